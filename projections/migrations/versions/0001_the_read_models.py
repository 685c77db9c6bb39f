"""The read models: accounts, assets, books, liquidations, rejections, marks,
parameter versions, the event index, and the projection runner's tracking and gaps.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from alembic import op
import sqlalchemy as sa

import projections.tables


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('view_account_assets',
    sa.Column('account', sa.String(), nullable=False),
    sa.Column('asset', sa.String(), nullable=False),
    sa.Column('balance', projections.tables.Amount(), nullable=True),
    sa.Column('principal', projections.tables.Amount(), nullable=True),
    sa.Column('interest', projections.tables.Amount(), nullable=True),
    sa.PrimaryKeyConstraint('account', 'asset')
    )
    op.create_table('view_accounts',
    sa.Column('account', sa.String(), nullable=False),
    sa.Column('account_id', sa.String(), nullable=False),
    sa.Column('mode', sa.String(), nullable=False),
    sa.Column('leverage', sa.Integer(), nullable=True),
    sa.Column('pair', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('auto_topup', sa.JSON(), nullable=True),
    sa.Column('liquidation_id', sa.String(), nullable=True),
    sa.Column('liquidations', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('notification_id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('account')
    )
    op.create_table('view_book_totals',
    sa.Column('holder', sa.String(), nullable=False),
    sa.Column('asset', sa.String(), nullable=False),
    sa.Column('book', sa.String(), nullable=False),
    sa.Column('amount', projections.tables.Amount(), nullable=False),
    sa.PrimaryKeyConstraint('holder', 'asset', 'book')
    )
    op.create_table('view_events',
    sa.Column('notification_id', sa.BigInteger(), nullable=False),
    sa.Column('originator_id', sa.String(), nullable=False),
    sa.Column('originator_version', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('account', sa.String(), nullable=True),
    sa.Column('liquidation_id', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('notification_id')
    )
    op.create_index('ix_view_events_account', 'view_events', ['account', 'originator_version'], unique=False)
    op.create_index('ix_view_events_at', 'view_events', ['at'], unique=False)
    op.create_index('ix_view_events_liquidation', 'view_events', ['liquidation_id'], unique=False)
    op.create_index('ix_view_events_originator', 'view_events', ['originator_id', 'originator_version'], unique=False)
    op.create_table('view_liquidations',
    sa.Column('liquidation_id', sa.String(), nullable=False),
    sa.Column('account', sa.String(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('triggered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notification_id', sa.BigInteger(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('liquidation_id')
    )
    op.create_index(op.f('ix_view_liquidations_account'), 'view_liquidations', ['account'], unique=False)
    op.create_table('view_marks',
    sa.Column('asset', sa.String(), nullable=False),
    sa.Column('notification_id', sa.BigInteger(), nullable=False),
    sa.Column('price', projections.tables.Amount(), nullable=False),
    sa.Column('quote', sa.String(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('asset', 'notification_id')
    )
    op.create_table('view_parameter_versions',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('notification_id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('cause', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('version')
    )
    op.create_table('view_rejections',
    sa.Column('notification_id', sa.BigInteger(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('op', sa.String(), nullable=False),
    sa.Column('input_id', sa.String(), nullable=True),
    sa.Column('account', sa.String(), nullable=True),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('notification_id')
    )
    op.create_table('view_settled_gaps',
    sa.Column('notification_id', sa.BigInteger(), nullable=False),
    sa.Column('settled_below', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('notification_id')
    )
    op.create_table('view_tracking',
    sa.Column('application_name', sa.String(), nullable=False),
    sa.Column('notification_id', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('application_name')
    )


def downgrade() -> None:
    op.drop_table('view_tracking')
    op.drop_table('view_settled_gaps')
    op.drop_table('view_rejections')
    op.drop_table('view_parameter_versions')
    op.drop_table('view_marks')
    op.drop_index(op.f('ix_view_liquidations_account'), table_name='view_liquidations')
    op.drop_table('view_liquidations')
    op.drop_index('ix_view_events_originator', table_name='view_events')
    op.drop_index('ix_view_events_liquidation', table_name='view_events')
    op.drop_index('ix_view_events_at', table_name='view_events')
    op.drop_index('ix_view_events_account', table_name='view_events')
    op.drop_table('view_events')
    op.drop_table('view_book_totals')
    op.drop_table('view_accounts')
    op.drop_table('view_account_assets')
