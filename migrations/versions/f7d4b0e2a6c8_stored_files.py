"""stored_files: every file the application writes, with its owner households and retention

Revision ID: f7d4b0e2a6c8
Revises: e6c3a9d1f5b7
Create Date: 2026-12-07 21:50:00.000000

Creates the register of files written under UPLOAD_DIR (``stored_files``) and the households each
one holds data about (``stored_file_households``), and fills it for the files existing rows
already point to: uploads (``<household_id>/<token>``), scanned pages and their cut-outs
(``scans/<sha256>.png``), scanners' stacks as uploaded (``scans/uploads/<sha256>``) and print
runs' PDFs (``print/<file_name>``), each linked to the households its rows name. Files on disk
that no row names (two stacks whose batch was deleted, say) are found by
``inscriptions privacy files``.

Also ``household_activity``: the end of a household's latest registration already anonymised,
from which a paper-only household's retention counts (empty at first: registrations anonymised
before kept no household to tell).
"""
import datetime as dt
import json

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f7d4b0e2a6c8'
down_revision = 'e6c3a9d1f5b7'
branch_labels = None
depends_on = None

# The defaults of SCAN_RETENTION_DAYS and PRINT_RETENTION_DAYS (inscriptions.privacy.settings):
# the purge applies the setting in force to every file anyway, whatever was recorded here.
SCAN_RETENTION_DAYS = 90
PRINT_RETENTION_DAYS = 30
PRINTED_KEY = "printed_households"

HOUSEHOLDS = "SELECT id FROM households"
UPLOADS = "SELECT household_id, token, created_at FROM uploads"
PRINT_TOKENS = "SELECT token, household_id FROM print_tokens WHERE household_id IS NOT NULL"
REGISTRATION_BATCHES = "SELECT batch, household_id FROM registrations WHERE household_id IS NOT NULL"
SCAN_PAGES = ("SELECT batch_id, image_sha256, reading, token, document_key, registration_batch"
              " FROM scan_pages ORDER BY id")
SCAN_BATCHES = "SELECT id, uploaded_at, files FROM scan_batches ORDER BY id"
PRINT_JOBS = "SELECT file_name, finished_at, requested_at, params FROM print_jobs WHERE file_name IS NOT NULL"
STORED = "SELECT id, path FROM stored_files"


def _json(value):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _moment(value):
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


def _backfill(bind):
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    households = {row[0] for row in bind.execute(sa.text(HOUSEHOLDS))}
    files = {}  # path -> {kind, created_at, delete_after, owners}

    def add(path, kind, created_at, delete_after=None, owners=()):
        entry = files.setdefault(path, {"kind": kind, "created_at": created_at or now,
                                        "delete_after": delete_after, "owners": set()})
        entry["owners"] |= {h for h in owners if h in households}

    for household_id, token, created_at in bind.execute(sa.text(UPLOADS)):
        add(f"{household_id}/{token}", "upload", _moment(created_at), owners=[household_id])

    printed_for = {token: household_id for token, household_id in bind.execute(sa.text(PRINT_TOKENS))}
    booked_by = {batch: household_id for batch, household_id in bind.execute(sa.text(REGISTRATION_BATCHES))}
    batch_owners = {}
    for batch_id, image, reading, token, document_key, registration_batch in bind.execute(sa.text(SCAN_PAGES)):
        owners = {printed_for.get(document_key or token), booked_by.get(registration_batch)} - {None}
        batch_owners.setdefault(batch_id, set()).update(owners)
        digests = [image, *((_json(reading) or {}).get("crop_files") or {}).values()]
        for digest in digests:
            if isinstance(digest, str) and len(digest) == 64:
                add(f"scans/{digest}.png", "scan_image", None, owners=owners)

    for batch_id, uploaded_at, batch_files in bind.execute(sa.text(SCAN_BATCHES)):
        uploaded = _moment(uploaded_at) or now
        for info in _json(batch_files) or []:
            digest = (info or {}).get("sha256")
            if isinstance(digest, str) and len(digest) == 64:
                add(f"scans/uploads/{digest}", "scan_upload", uploaded,
                    uploaded + dt.timedelta(days=SCAN_RETENTION_DAYS), batch_owners.get(batch_id, ()))

    for file_name, finished_at, requested_at, params in bind.execute(sa.text(PRINT_JOBS)):
        made = _moment(finished_at) or _moment(requested_at) or now
        owners = [int(h) for h in ((_json(params) or {}).get(PRINTED_KEY) or [])]
        add(f"print/{file_name}", "print", made, made + dt.timedelta(days=PRINT_RETENTION_DAYS), owners)

    if not files:
        return
    stored = sa.table("stored_files", sa.column("path", sa.String), sa.column("kind", sa.String),
                      sa.column("created_at", sa.DateTime), sa.column("delete_after", sa.DateTime))
    bind.execute(stored.insert(), [{"path": path, "kind": e["kind"], "created_at": e["created_at"],
                                    "delete_after": e["delete_after"]} for path, e in sorted(files.items())])
    ids = {path: file_id for file_id, path in bind.execute(sa.text(STORED))}
    links = [{"file_id": ids[path], "household_id": h}
             for path, e in sorted(files.items()) for h in sorted(e["owners"])]
    if links:
        owners = sa.table("stored_file_households", sa.column("file_id", sa.Integer),
                          sa.column("household_id", sa.Integer))
        bind.execute(owners.insert(), links)


def upgrade():
    op.create_table(
        'stored_files',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('path', sa.String(length=500), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('delete_after', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_stored_files')),
        sa.UniqueConstraint('path', name=op.f('uq_stored_files_path')),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table('stored_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stored_files_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_stored_files_delete_after'), ['delete_after'], unique=False)
    op.create_table(
        'stored_file_households',
        sa.Column('file_id', sa.Integer(), nullable=False),
        sa.Column('household_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['file_id'], ['stored_files.id'],
                                name=op.f('fk_stored_file_households_file_id_stored_files'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['household_id'], ['households.id'],
                                name=op.f('fk_stored_file_households_household_id_households')),
        sa.PrimaryKeyConstraint('file_id', 'household_id', name=op.f('pk_stored_file_households')),
    )
    with op.batch_alter_table('stored_file_households', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stored_file_households_household_id'), ['household_id'], unique=False)
    op.create_table(
        'household_activity',
        sa.Column('household_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('last_registration_end', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['household_id'], ['households.id'],
                                name=op.f('fk_household_activity_household_id_households'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('household_id', name=op.f('pk_household_activity')),
    )
    _backfill(op.get_bind())


def downgrade():
    op.drop_table('household_activity')
    with op.batch_alter_table('stored_file_households', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stored_file_households_household_id'))
    op.drop_table('stored_file_households')
    with op.batch_alter_table('stored_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stored_files_delete_after'))
        batch_op.drop_index(batch_op.f('ix_stored_files_kind'))
    op.drop_table('stored_files')
