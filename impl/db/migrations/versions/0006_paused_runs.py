"""Paused runs that outlive their worker; leases of annotation-reply jobs

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workflow_pauses",
        sa.Column("workflow_run_id", sa.String(length=36), nullable=False),
        sa.Column("form_id", sa.String(length=36), nullable=False),
        sa.Column("node_id", sa.String(length=255), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["workflow_run_id"], ["workflow_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workflow_run_id"),
    )
    op.create_index("ix_workflow_pauses_worker", "workflow_pauses", ["worker"])
    with op.batch_alter_table("run_leases") as batch:
        batch.add_column(sa.Column("annotation_job_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_leases") as batch:
        batch.drop_column("annotation_job_id")
    op.drop_index("ix_workflow_pauses_worker", table_name="workflow_pauses")
    op.drop_table("workflow_pauses")
