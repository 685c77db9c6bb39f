"""Who did what, and what the HTTP API keeps: the actor of each event in the event index,
running counters for `/metrics`, the API's keys (digests only) and its jobs.

The event index and the counters need every event projected again: the views are
emptied with their tracking position, and the next catch-up rebuilds them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

VIEWS_OF_0002 = (
    'view_events',
    'view_accounts',
    'view_account_assets',
    'view_book_totals',
    'view_liquidations',
    'view_rejections',
    'view_marks',
    'view_parameter_versions',
    'view_futures_wallets',
    'view_futures_positions',
    'view_futures_settings',
    'view_symbol_marks',
    'view_futures_trades',
    'view_settled_gaps',
    'view_tracking',
)


def upgrade() -> None:
    op.add_column('view_events', sa.Column('actor', sa.String(), nullable=True))
    op.create_table('view_counters',
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('labels', sa.String(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', 'labels')
    )
    op.create_table('api_keys',
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('role', sa.String(), nullable=False),
    sa.Column('key_digest', sa.String(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('name'),
    sa.UniqueConstraint('key_digest')
    )
    op.create_table('api_jobs',
    sa.Column('job_id', sa.String(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('requested_by', sa.String(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('job_id')
    )
    for table in VIEWS_OF_0002:  # projected again, with actors and counters
        op.execute(sa.text(f"DELETE FROM {table}"))


def downgrade() -> None:
    op.drop_table('api_jobs')
    op.drop_table('api_keys')
    op.drop_table('view_counters')
    with op.batch_alter_table('view_events') as batch:
        batch.drop_column('actor')
