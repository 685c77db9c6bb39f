"""Futures read models: wallets, positions, per-symbol settings, symbol marks and the
trades that opened or increased a position.

Views that already passed futures events (written before these tables existed) are
emptied with their tracking position, so that the next catch-up projects every event
again, into the new tables too: a view row is never missing for an event the views
passed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa

import projections.tables


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# Every view table of 0001 (emptied when futures events were projected without these).
VIEWS_OF_0001 = (
    'view_events',
    'view_accounts',
    'view_account_assets',
    'view_book_totals',
    'view_liquidations',
    'view_rejections',
    'view_marks',
    'view_parameter_versions',
    'view_settled_gaps',
    'view_tracking',
)
FUTURES_AGGREGATES = ('FuturesAccount.%', 'SymbolMarket.%', 'FuturesLiquidation.%')


def upgrade() -> None:
    op.create_table('view_futures_wallets',
    sa.Column('account', sa.String(), nullable=False),
    sa.Column('mode', sa.String(), nullable=False),
    sa.Column('asset', sa.String(), nullable=False),
    sa.Column('position_mode', sa.String(), nullable=False),
    sa.Column('cross_wallet_balance', projections.tables.Amount(), nullable=False),
    sa.Column('settling', projections.tables.Amount(), nullable=False),
    sa.Column('realized_pnl', projections.tables.Amount(), nullable=False),
    sa.Column('funding', projections.tables.Amount(), nullable=False),
    sa.Column('commissions', projections.tables.Amount(), nullable=False),
    sa.Column('clearance_fees', projections.tables.Amount(), nullable=False),
    sa.Column('shortfalls_covered', projections.tables.Amount(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('liquidation_id', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('account')
    )
    op.create_table('view_futures_positions',
    sa.Column('account', sa.String(), nullable=False),
    sa.Column('symbol', sa.String(), nullable=False),
    sa.Column('slot', sa.String(), nullable=False),
    sa.Column('side', sa.String(), nullable=False),
    sa.Column('quantity', projections.tables.Amount(), nullable=False),
    sa.Column('entry_price', sa.String(), nullable=False),
    sa.Column('isolated_margin', projections.tables.Amount(), nullable=False),
    sa.Column('liquidation_id', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('account', 'symbol', 'slot')
    )
    op.create_table('view_futures_settings',
    sa.Column('account', sa.String(), nullable=False),
    sa.Column('symbol', sa.String(), nullable=False),
    sa.Column('leverage', sa.Integer(), nullable=False),
    sa.Column('margin_type', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('account', 'symbol')
    )
    op.create_table('view_symbol_marks',
    sa.Column('symbol', sa.String(), nullable=False),
    sa.Column('notification_id', sa.BigInteger(), nullable=False),
    sa.Column('price', projections.tables.Amount(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('symbol', 'notification_id')
    )
    op.create_table('view_futures_trades',
    sa.Column('notification_id', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('line', sa.Integer(), nullable=True),
    sa.Column('account', sa.String(), nullable=False),
    sa.Column('symbol', sa.String(), nullable=False),
    sa.Column('opened_quantity', projections.tables.Amount(), nullable=False),
    sa.Column('initial_margin', projections.tables.Amount(), nullable=False),
    sa.Column('open_loss', projections.tables.Amount(), nullable=False),
    sa.Column('cost', projections.tables.Amount(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('notification_id')
    )
    op.create_index(op.f('ix_view_futures_trades_account'), 'view_futures_trades', ['account'], unique=False)
    _project_again_if_futures_were_passed()


def _project_again_if_futures_were_passed() -> None:
    connection = op.get_bind()
    passed = connection.execute(
        sa.text(
            "SELECT 1 FROM view_events WHERE "
            + " OR ".join(f"event LIKE :pattern_{index}" for index in range(len(FUTURES_AGGREGATES)))
            + " LIMIT 1"
        ),
        {f"pattern_{index}": pattern for index, pattern in enumerate(FUTURES_AGGREGATES)},
    ).first()
    if passed is not None:
        for table in VIEWS_OF_0001:
            op.execute(sa.text(f"DELETE FROM {table}"))


def downgrade() -> None:
    op.drop_index(op.f('ix_view_futures_trades_account'), table_name='view_futures_trades')
    op.drop_table('view_futures_trades')
    op.drop_table('view_symbol_marks')
    op.drop_table('view_futures_settings')
    op.drop_table('view_futures_positions')
    op.drop_table('view_futures_wallets')
