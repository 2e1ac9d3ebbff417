"""print jobs and background scan reading

Revision ID: a3c5e7f90b12
Revises: 4597bb1571bb
Create Date: 2026-11-22 14:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a3c5e7f90b12'
down_revision = '4597bb1571bb'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('print_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('service_code', sa.String(length=50), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('requested_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.Column('documents', sa.Integer(), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=100), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['requested_by_id'], ['accounts.id'], name=op.f('fk_print_jobs_requested_by_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_print_jobs'))
    )
    with op.batch_alter_table('print_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_print_jobs_service_code'), ['service_code'], unique=False)

    with op.batch_alter_table('scan_batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reading_status', sa.String(length=20), server_default='read', nullable=False))
        batch_op.add_column(sa.Column('pages_read', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('files', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('error', sa.Text(), nullable=True))
    # Batches read before this revision were read in the upload request: all their pages are stored.
    op.execute("UPDATE scan_batches SET pages_read = page_count")


def downgrade():
    with op.batch_alter_table('scan_batches', schema=None) as batch_op:
        batch_op.drop_column('error')
        batch_op.drop_column('files')
        batch_op.drop_column('pages_read')
        batch_op.drop_column('reading_status')

    with op.batch_alter_table('print_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_print_jobs_service_code'))

    op.drop_table('print_jobs')
