"""audit_events: hash chain (seals, purge checkpoints), purge through a SECURITY DEFINER function

Revision ID: d5b2f8c0e4a6
Revises: c4a1e7b9d3f5
Create Date: 2026-12-07 21:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd5b2f8c0e4a6'
down_revision = 'c4a1e7b9d3f5'
branch_labels = None
depends_on = None


# PostgreSQL. The journal's tables refuse UPDATE, and DELETE unless it comes from audit_purge()
# (seen in the call stack): the old transaction-local setting that opened the trigger could be set
# by any session, and is no longer read. The application's role gets no UPDATE, DELETE or
# TRUNCATE on these tables at all (docs/production.md); this trigger also stops the owner's raw
# statements, and what a superuser does anyway (DISABLE TRIGGER) the hash chain shows.
APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
DECLARE
  stack text;
BEGIN
  IF TG_OP = 'DELETE' THEN
    GET DIAGNOSTICS stack = PG_CONTEXT;
    IF position('function audit_purge(' in stack) > 0 THEN
      RETURN OLD;
    END IF;
  END IF;
  RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP;
END
$$ LANGUAGE plpgsql
"""

# Revision f1a2b3c4d5e6's version, restored on downgrade.
OLD_APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('inscriptions.audit_purge', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP;
END
$$ LANGUAGE plpgsql
"""

SEAL_TRIGGERS = """
CREATE TRIGGER audit_seals_append_only BEFORE UPDATE OR DELETE ON audit_seals
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
"""

# The retention purge of the journal, run with its owner's rights (the migration's role): the
# application's role may EXECUTE it, and nothing else deletes from the journal. It removes the
# oldest entries only, as a prefix of the chain (up to the first sealed entry not yet past
# retention), and records the checkpoint the kept chain starts from, with who ran it (the database
# role, the staff account given) and the retention used. The lock is the one the seal takes
# (inscriptions.privacy.integrity.CHAIN_LOCK_KEY). A retention under 6 months (CNIL's lower bound
# for access logs) is refused, and so is a date ahead of the database's clock, except for a
# superuser (who could delete anything anyway; the test suite travels in time as one).
PURGE_FUNCTION = """
CREATE FUNCTION audit_purge(p_as_of timestamp, p_retention_months integer, p_actor_account_id integer)
RETURNS TABLE (purged integer, anchor_seq integer, anchor_hash text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_cutoff timestamp;
  v_keep_from integer;
  v_last_seq integer;
  v_last_hash text;
  v_deleted integer;
  v_clock timestamp := now() AT TIME ZONE 'UTC';
BEGIN
  IF p_retention_months IS NULL OR p_retention_months < 6 THEN
    RAISE EXCEPTION 'audit_purge: the journal is kept at least 6 months (asked: % months)', p_retention_months;
  END IF;
  IF p_as_of IS NULL OR (p_as_of > v_clock + interval '1 day'
      AND NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user)) THEN
    RAISE EXCEPTION 'audit_purge: % is ahead of the database clock (%)', p_as_of, v_clock;
  END IF;
  PERFORM pg_advisory_xact_lock(9053587250002542981);
  v_cutoff := p_as_of - make_interval(months => p_retention_months);
  SELECT min(s.seq) INTO v_keep_from
    FROM audit_seals s JOIN audit_events e ON e.id = s.event_id WHERE e.at >= v_cutoff;
  IF v_keep_from IS NULL THEN
    SELECT coalesce(max(s.seq), 0) + 1 INTO v_keep_from FROM audit_seals s;
  END IF;
  SELECT s.seq, s.hash INTO v_last_seq, v_last_hash
    FROM audit_seals s WHERE s.seq < v_keep_from ORDER BY s.seq DESC LIMIT 1;
  IF v_last_seq IS NULL THEN
    RETURN QUERY SELECT 0, NULL::integer, NULL::text;
    RETURN;
  END IF;
  DELETE FROM audit_events e USING audit_seals s WHERE s.event_id = e.id AND s.seq < v_keep_from;
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  DELETE FROM audit_seals s WHERE s.seq < v_keep_from;
  INSERT INTO audit_checkpoints (seq, hash, deleted, cutoff, as_of, db_clock, retention_months,
                                 actor_account_id, db_user)
    VALUES (v_last_seq, v_last_hash, v_deleted, v_cutoff, p_as_of, v_clock, p_retention_months,
            p_actor_account_id, session_user);
  RETURN QUERY SELECT v_deleted, v_last_seq, v_last_hash;
END
$$;
REVOKE ALL ON FUNCTION audit_purge(timestamp, integer, integer) FROM PUBLIC
"""


def upgrade():
    op.create_table('audit_seals',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('fields', sa.Text(), nullable=False),
    sa.Column('sealed_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_seals')),
    sa.UniqueConstraint('event_id', name=op.f('uq_audit_seals_event_id')),
    sqlite_autoincrement=True,
    )
    op.create_table('audit_checkpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('deleted', sa.Integer(), nullable=False),
    sa.Column('cutoff', sa.DateTime(), nullable=False),
    sa.Column('as_of', sa.DateTime(), nullable=False),
    sa.Column('db_clock', sa.DateTime(), nullable=False),
    sa.Column('retention_months', sa.Integer(), nullable=False),
    sa.Column('actor_account_id', sa.Integer(), nullable=True),
    sa.Column('db_user', sa.String(length=63), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints')),
    sqlite_autoincrement=True,
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(APPEND_ONLY_FUNCTION)
        op.execute(SEAL_TRIGGERS)
        op.execute(PURGE_FUNCTION)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP FUNCTION IF EXISTS audit_purge(timestamp, integer, integer)')
        op.execute(OLD_APPEND_ONLY_FUNCTION)
    op.drop_table('audit_checkpoints')
    op.drop_table('audit_seals')
