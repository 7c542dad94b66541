"""foundation: departments and subjects

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 04:22:26.003075
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('departments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('uscc', sa.String(length=18), nullable=False),
    sa.Column('region', sa.String(length=6), nullable=True),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_departments')),
    sa.UniqueConstraint('code', name=op.f('uq_departments_code')),
    sa.UniqueConstraint('name', name=op.f('uq_departments_name')),
    sa.UniqueConstraint('uscc', name=op.f('uq_departments_uscc'))
    )
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_departments_region'), ['region'], unique=False)

    op.create_table('subjects',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('org_type', sa.String(length=32), nullable=True),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('name_norm', sa.String(length=255), nullable=False),
    sa.Column('uscc', sa.String(length=18), nullable=True),
    sa.Column('region', sa.String(length=6), nullable=True),
    sa.Column('legal_rep', sa.String(length=100), nullable=True),
    sa.Column('reg_status', sa.String(length=32), nullable=True),
    sa.Column('established', sa.Date(), nullable=True),
    sa.Column('address', sa.String(length=500), nullable=True),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('citizen_id_enc', sa.LargeBinary(), nullable=True),
    sa.Column('citizen_id_hash', sa.String(length=64), nullable=True),
    sa.Column('citizen_id_masked', sa.String(length=18), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subjects')),
    sa.UniqueConstraint('citizen_id_hash', name=op.f('uq_subjects_citizen_id_hash')),
    sa.UniqueConstraint('uscc', name=op.f('uq_subjects_uscc'))
    )
    with op.batch_alter_table('subjects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subjects_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_subjects_name_norm'), ['name_norm'], unique=False)
        batch_op.create_index(batch_op.f('ix_subjects_region'), ['region'], unique=False)

    op.create_table('subject_identifiers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('scheme', sa.String(length=32), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_subject_identifiers_subject_id_subjects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subject_identifiers')),
    sa.UniqueConstraint('scheme', 'value', name=op.f('uq_subject_identifiers_scheme_value'))
    )
    with op.batch_alter_table('subject_identifiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subject_identifiers_subject_id'), ['subject_id'], unique=False)

    op.create_table('subject_names',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('name_norm', sa.String(length=255), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_subject_names_subject_id_subjects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subject_names'))
    )
    with op.batch_alter_table('subject_names', schema=None) as batch_op:
        batch_op.create_index('ix_subject_names_name_norm', ['name_norm'], unique=False)
        batch_op.create_index(batch_op.f('ix_subject_names_subject_id'), ['subject_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('subject_names', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subject_names_subject_id'))
        batch_op.drop_index('ix_subject_names_name_norm')

    op.drop_table('subject_names')
    with op.batch_alter_table('subject_identifiers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subject_identifiers_subject_id'))

    op.drop_table('subject_identifiers')
    with op.batch_alter_table('subjects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subjects_region'))
        batch_op.drop_index(batch_op.f('ix_subjects_name_norm'))
        batch_op.drop_index(batch_op.f('ix_subjects_kind'))

    op.drop_table('subjects')
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_departments_region'))

    op.drop_table('departments')
