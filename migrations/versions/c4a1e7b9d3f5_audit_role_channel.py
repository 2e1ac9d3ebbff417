"""audit_events: role and channel of each access; audit_event_households, the households of an
event that concerns several (a search, a queue page, an export, a print job)

Revision ID: c4a1e7b9d3f5
Revises: b9e4c6a8d0f2
Create Date: 2026-12-07 21:30:00.000000

"""
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4a1e7b9d3f5'
down_revision = 'b9e4c6a8d0f2'
branch_labels = None
depends_on = None


# PostgreSQL: like audit_events (revision f1a2b3c4d5e6), the links cannot be changed, and a link
# can only go with its event (the ON DELETE CASCADE of the retention purge): whatever path the
# purge takes, a link whose event still exists is never deleted.
LINKS_TRIGGER = """
CREATE OR REPLACE FUNCTION audit_event_households_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM audit_events WHERE id = OLD.event_id) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_event_households is append-only (% refused)', TG_OP;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_event_households_append_only BEFORE UPDATE OR DELETE ON audit_event_households
  FOR EACH ROW EXECUTE FUNCTION audit_event_households_append_only();
"""


def upgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=200), server_default=sa.text("''"), nullable=False))
        batch_op.add_column(sa.Column('channel', sa.String(length=10), server_default=sa.text("''"), nullable=False))

    op.create_table('audit_event_households',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['audit_events.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', 'household_id')
    )
    with op.batch_alter_table('audit_event_households', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_households_household_id'), ['household_id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(LINKS_TRIGGER)

    # Older events about several households (the letters page) listed them in their detail:
    # link them, so each household's history finds them too.
    bind = op.get_bind()
    events = sa.table('audit_events', sa.column('id', sa.Integer()), sa.column('detail', sa.JSON()))
    rows = bind.execute(sa.select(events.c.id, events.c.detail)
                        .where(sa.cast(events.c.detail, sa.Text()).like('%"households"%'))).all()
    links = []
    for event_id, detail in rows:
        if isinstance(detail, str):
            detail = json.loads(detail)
        ids = detail.get('households') if isinstance(detail, dict) else None
        if isinstance(ids, list):
            links.extend({'event_id': event_id, 'household_id': h}
                         for h in sorted({h for h in ids if isinstance(h, int) and not isinstance(h, bool)}))
    if links:
        table = sa.table('audit_event_households', sa.column('event_id', sa.Integer()),
                         sa.column('household_id', sa.Integer()))
        op.bulk_insert(table, links)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS audit_event_households_append_only ON audit_event_households')
        op.execute('DROP FUNCTION IF EXISTS audit_event_households_append_only()')
    with op.batch_alter_table('audit_event_households', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_households_household_id'))

    op.drop_table('audit_event_households')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('channel')
        batch_op.drop_column('role')
