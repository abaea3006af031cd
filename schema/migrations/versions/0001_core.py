"""Core tables, the Q3C and pgSphere extensions, and the append-only release guard.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Creates every table of the data flow (ingest, catalog, cutouts and shards, bright-star
masks, samples, models, score runs and scores, embeddings, UMAP, clusters, releases). The
table definitions are a frozen snapshot of ``hscanom.schema.models`` at this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hscanom.schema.types

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


#: A complete release may not change, and no release row may be deleted.
RELEASE_GUARD = """
CREATE FUNCTION release_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'release % is append-only: rows cannot be deleted', OLD.version;
    END IF;
    IF OLD.status <> 'cutting' OR NEW.version <> OLD.version OR NEW.run_id <> OLD.run_id THEN
        RAISE EXCEPTION 'release % is immutable once %', OLD.version, OLD.status;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER release_append_only BEFORE UPDATE OR DELETE ON release
    FOR EACH ROW EXECUTE FUNCTION release_append_only();
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS q3c")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_sphere")
    op.create_table('ingest_batch',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('uri', sa.Text(), nullable=False, comment='File or folder ingested'),
    sa.Column('sha256', sa.Text(), nullable=True, comment='Checksum of the file (hex)'),
    sa.Column('data_release', sa.Text(), nullable=True, comment='HSC data release, e.g. pdr2_wide'),
    sa.Column('status', sa.Text(), server_default='running', nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rows_read', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('rows_stored', sa.BigInteger(), server_default='0', nullable=False, comment='New rows stored'),
    sa.Column('rows_updated', sa.BigInteger(), server_default='0', nullable=False, comment='Existing rows changed'),
    sa.Column('rows_rejected', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False, comment='Changes, warnings, options'),
    sa.CheckConstraint("kind IN ('catalog', 'cutouts', 'masks', 'starlist')", name=op.f('ck_ingest_batch_kind')),
    sa.CheckConstraint("status IN ('running', 'complete', 'failed')", name=op.f('ck_ingest_batch_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_batch')),
    comment='One ingest of one file or folder, with its summary counts'
    )
    op.create_table('sample',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('sql', sa.Text(), nullable=False, comment='SELECT returning object_id that defined the sample'),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('n_members', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sample')),
    sa.UniqueConstraint('name', name=op.f('uq_sample_name')),
    comment='Named, reproducible object selections'
    )
    op.create_table('bright_star_mask',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('mask_version', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=True, comment='halo, ghost, channel_stop, ... when the source says'),
    sa.Column('shape', sa.Text(), nullable=False, comment='Shape in the source file'),
    sa.Column('circle', hscanom.schema.types.SCircle(), nullable=True, comment='Region when a circle [deg]'),
    sa.Column('poly', hscanom.schema.types.SPoly(), nullable=True, comment='Region when a box, ellipse or polygon [deg]'),
    sa.Column('star_id', sa.BigInteger(), nullable=True, comment='Source star id'),
    sa.Column('star_mag', sa.Double(), nullable=True, comment='Source star magnitude [mag]'),
    sa.Column('source', sa.Text(), nullable=True, comment='file:line the region came from'),
    sa.Column('ingest_batch_id', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("shape IN ('circle', 'box', 'polygon', 'ellipse')", name=op.f('ck_bright_star_mask_shape')),
    sa.CheckConstraint('(circle IS NULL) <> (poly IS NULL)', name=op.f('ck_bright_star_mask_one_region')),
    sa.ForeignKeyConstraint(['ingest_batch_id'], ['ingest_batch.id'], name=op.f('fk_bright_star_mask_ingest_batch_id_ingest_batch')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bright_star_mask')),
    comment='Bright-star mask regions (halos, ghosts, channel stops) per mask version'
    )
    op.create_index('ix_bright_star_mask_circle', 'bright_star_mask', ['circle'], unique=False, postgresql_using='gist')
    op.create_index(op.f('ix_bright_star_mask_mask_version'), 'bright_star_mask', ['mask_version'], unique=False)
    op.create_index('ix_bright_star_mask_poly', 'bright_star_mask', ['poly'], unique=False, postgresql_using='gist')
    op.create_table('hsc_object',
    sa.Column('object_id', sa.BigInteger(), autoincrement=False, nullable=False, comment='HSC object id (64-bit integer)'),
    sa.Column('ra', sa.Double(), autoincrement=False, nullable=False, comment='Right ascension (ICRS) [deg]'),
    sa.Column('dec', sa.Double(), autoincrement=False, nullable=False, comment='Declination (ICRS) [deg]'),
    sa.Column('tract', sa.Integer(), autoincrement=False, nullable=True, comment='Sky-map tract'),
    sa.Column('patch', sa.Integer(), autoincrement=False, nullable=True, comment='Sky-map patch (100*x + y)'),
    sa.Column('parent_id', sa.BigInteger(), autoincrement=False, nullable=True, comment='Deblender parent object id (0 if none)'),
    sa.Column('isprimary', sa.Boolean(), autoincrement=False, nullable=True, comment='Primary detection (inner tract/patch, not a deblend parent)'),
    sa.Column('nchild', sa.Integer(), autoincrement=False, nullable=True, comment='Number of deblended children'),
    sa.Column('a_g', sa.Double(), autoincrement=False, nullable=True, comment='Galactic extinction in g [mag]'),
    sa.Column('a_r', sa.Double(), autoincrement=False, nullable=True, comment='Galactic extinction in r [mag]'),
    sa.Column('a_i', sa.Double(), autoincrement=False, nullable=True, comment='Galactic extinction in i [mag]'),
    sa.Column('a_z', sa.Double(), autoincrement=False, nullable=True, comment='Galactic extinction in z [mag]'),
    sa.Column('a_y', sa.Double(), autoincrement=False, nullable=True, comment='Galactic extinction in y [mag]'),
    sa.Column('g_cmodel_mag', sa.Double(), autoincrement=False, nullable=True, comment='CModel AB magnitude in g [mag]'),
    sa.Column('g_cmodel_magsigma', sa.Double(), autoincrement=False, nullable=True, comment='CModel magnitude error in g [mag]'),
    sa.Column('g_cmodel_fracdev', sa.Double(), autoincrement=False, nullable=True, comment='CModel fraction of flux in the de Vaucouleurs component, g'),
    sa.Column('g_cmodel_flag', sa.Boolean(), autoincrement=False, nullable=True, comment='CModel failure flag in g'),
    sa.Column('g_psfflux_mag', sa.Double(), autoincrement=False, nullable=True, comment='PSF AB magnitude in g (forced2) [mag]'),
    sa.Column('g_psfflux_magsigma', sa.Double(), autoincrement=False, nullable=True, comment='PSF magnitude error in g (forced2) [mag]'),
    sa.Column('g_psfflux_flag', sa.Boolean(), autoincrement=False, nullable=True, comment='PSF flux failure flag in g (forced2)'),
    sa.Column('g_pixelflags_edge', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'edge' set in g"),
    sa.Column('g_pixelflags_interpolated', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'interpolated' set in g"),
    sa.Column('g_pixelflags_saturated', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'saturated' set in g"),
    sa.Column('g_pixelflags_cr', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'cr' set in g"),
    sa.Column('g_pixelflags_clipped', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'clipped' set in g"),
    sa.Column('g_pixelflags_rejected', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'rejected' set in g"),
    sa.Column('g_pixelflags_inexact_psf', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'inexact_psf' set in g"),
    sa.Column('g_pixelflags_interpolatedcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'interpolatedcenter' set in g"),
    sa.Column('g_pixelflags_saturatedcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'saturatedcenter' set in g"),
    sa.Column('g_pixelflags_crcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'crcenter' set in g"),
    sa.Column('g_pixelflags_clippedcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'clippedcenter' set in g"),
    sa.Column('g_pixelflags_rejectedcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'rejectedcenter' set in g"),
    sa.Column('g_pixelflags_inexact_psfcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'inexact_psfcenter' set in g"),
    sa.Column('g_pixelflags_bright_object', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'bright_object' set in g"),
    sa.Column('g_pixelflags_bright_objectcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'bright_objectcenter' set in g"),
    sa.Column('g_blendedness_abs_flux', sa.Double(), autoincrement=False, nullable=True, comment='Blendedness (absolute flux) in g (meas)'),
    sa.Column('g_blendedness_flag', sa.Boolean(), autoincrement=False, nullable=True, comment='Blendedness failure flag in g (meas)'),
    sa.Column('g_inputcount_value', sa.Integer(), autoincrement=False, nullable=True, comment='Number of input visits at the centre in g'),
    sa.Column('g_extendedness_value', sa.Double(), autoincrement=False, nullable=True, comment='Extendedness (0 point source, 1 extended) in g'),
    sa.Column('g_extendedness_flag', sa.Boolean(), autoincrement=False, nullable=True, comment='Extendedness failure flag in g'),
    sa.Column('g_localbackground_flux', sa.Double(), autoincrement=False, nullable=True, comment='Local background flux in g [nJy]'),
    sa.Column('r_cmodel_mag', sa.Double(), autoincrement=False, nullable=True, comment='CModel AB magnitude in r [mag]'),
    sa.Column('r_cmodel_magsigma', sa.Double(), autoincrement=False, nullable=True, comment='CModel magnitude error in r [mag]'),
    sa.Column('r_cmodel_fracdev', sa.Double(), autoincrement=False, nullable=True, comment='CModel fraction of flux in the de Vaucouleurs component, r'),
    sa.Column('r_cmodel_flag', sa.Boolean(), autoincrement=False, nullable=True, comment='CModel failure flag in r'),
    sa.Column('r_psfflux_mag', sa.Double(), autoincrement=False, nullable=True, comment='PSF AB magnitude in r (forced2) [mag]'),
    sa.Column('r_psfflux_magsigma', sa.Double(), autoincrement=False, nullable=True, comment='PSF magnitude error in r (forced2) [mag]'),
    sa.Column('r_psfflux_flag', sa.Boolean(), autoincrement=False, nullable=True, comment='PSF flux failure flag in r (forced2)'),
    sa.Column('r_pixelflags_edge', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'edge' set in r"),
    sa.Column('r_pixelflags_interpolated', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'interpolated' set in r"),
    sa.Column('r_pixelflags_saturated', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'saturated' set in r"),
    sa.Column('r_pixelflags_cr', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'cr' set in r"),
    sa.Column('r_pixelflags_clipped', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'clipped' set in r"),
    sa.Column('r_pixelflags_rejected', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'rejected' set in r"),
    sa.Column('r_pixelflags_inexact_psf', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'inexact_psf' set in r"),
    sa.Column('r_pixelflags_interpolatedcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'interpolatedcenter' set in r"),
    sa.Column('r_pixelflags_saturatedcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'saturatedcenter' set in r"),
    sa.Column('r_pixelflags_crcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'crcenter' set in r"),
    sa.Column('r_pixelflags_clippedcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'clippedcenter' set in r"),
    sa.Column('r_pixelflags_rejectedcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'rejectedcenter' set in r"),
    sa.Column('r_pixelflags_inexact_psfcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'inexact_psfcenter' set in r"),
    sa.Column('r_pixelflags_bright_object', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'bright_object' set in r"),
    sa.Column('r_pixelflags_bright_objectcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'bright_objectcenter' set in r"),
    sa.Column('r_blendedness_abs_flux', sa.Double(), autoincrement=False, nullable=True, comment='Blendedness (absolute flux) in r (meas)'),
    sa.Column('r_blendedness_flag', sa.Boolean(), autoincrement=False, nullable=True, comment='Blendedness failure flag in r (meas)'),
    sa.Column('r_inputcount_value', sa.Integer(), autoincrement=False, nullable=True, comment='Number of input visits at the centre in r'),
    sa.Column('r_extendedness_value', sa.Double(), autoincrement=False, nullable=True, comment='Extendedness (0 point source, 1 extended) in r'),
    sa.Column('r_extendedness_flag', sa.Boolean(), autoincrement=False, nullable=True, comment='Extendedness failure flag in r'),
    sa.Column('r_localbackground_flux', sa.Double(), autoincrement=False, nullable=True, comment='Local background flux in r [nJy]'),
    sa.Column('i_cmodel_mag', sa.Double(), autoincrement=False, nullable=True, comment='CModel AB magnitude in i [mag]'),
    sa.Column('i_cmodel_magsigma', sa.Double(), autoincrement=False, nullable=True, comment='CModel magnitude error in i [mag]'),
    sa.Column('i_cmodel_fracdev', sa.Double(), autoincrement=False, nullable=True, comment='CModel fraction of flux in the de Vaucouleurs component, i'),
    sa.Column('i_cmodel_flag', sa.Boolean(), autoincrement=False, nullable=True, comment='CModel failure flag in i'),
    sa.Column('i_psfflux_mag', sa.Double(), autoincrement=False, nullable=True, comment='PSF AB magnitude in i (forced2) [mag]'),
    sa.Column('i_psfflux_magsigma', sa.Double(), autoincrement=False, nullable=True, comment='PSF magnitude error in i (forced2) [mag]'),
    sa.Column('i_psfflux_flag', sa.Boolean(), autoincrement=False, nullable=True, comment='PSF flux failure flag in i (forced2)'),
    sa.Column('i_pixelflags_edge', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'edge' set in i"),
    sa.Column('i_pixelflags_interpolated', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'interpolated' set in i"),
    sa.Column('i_pixelflags_saturated', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'saturated' set in i"),
    sa.Column('i_pixelflags_cr', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'cr' set in i"),
    sa.Column('i_pixelflags_clipped', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'clipped' set in i"),
    sa.Column('i_pixelflags_rejected', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'rejected' set in i"),
    sa.Column('i_pixelflags_inexact_psf', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'inexact_psf' set in i"),
    sa.Column('i_pixelflags_interpolatedcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'interpolatedcenter' set in i"),
    sa.Column('i_pixelflags_saturatedcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'saturatedcenter' set in i"),
    sa.Column('i_pixelflags_crcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'crcenter' set in i"),
    sa.Column('i_pixelflags_clippedcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'clippedcenter' set in i"),
    sa.Column('i_pixelflags_rejectedcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'rejectedcenter' set in i"),
    sa.Column('i_pixelflags_inexact_psfcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'inexact_psfcenter' set in i"),
    sa.Column('i_pixelflags_bright_object', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'bright_object' set in i"),
    sa.Column('i_pixelflags_bright_objectcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'bright_objectcenter' set in i"),
    sa.Column('i_blendedness_abs_flux', sa.Double(), autoincrement=False, nullable=True, comment='Blendedness (absolute flux) in i (meas)'),
    sa.Column('i_blendedness_flag', sa.Boolean(), autoincrement=False, nullable=True, comment='Blendedness failure flag in i (meas)'),
    sa.Column('i_inputcount_value', sa.Integer(), autoincrement=False, nullable=True, comment='Number of input visits at the centre in i'),
    sa.Column('i_extendedness_value', sa.Double(), autoincrement=False, nullable=True, comment='Extendedness (0 point source, 1 extended) in i'),
    sa.Column('i_extendedness_flag', sa.Boolean(), autoincrement=False, nullable=True, comment='Extendedness failure flag in i'),
    sa.Column('i_localbackground_flux', sa.Double(), autoincrement=False, nullable=True, comment='Local background flux in i [nJy]'),
    sa.Column('z_cmodel_mag', sa.Double(), autoincrement=False, nullable=True, comment='CModel AB magnitude in z [mag]'),
    sa.Column('z_cmodel_magsigma', sa.Double(), autoincrement=False, nullable=True, comment='CModel magnitude error in z [mag]'),
    sa.Column('z_cmodel_fracdev', sa.Double(), autoincrement=False, nullable=True, comment='CModel fraction of flux in the de Vaucouleurs component, z'),
    sa.Column('z_cmodel_flag', sa.Boolean(), autoincrement=False, nullable=True, comment='CModel failure flag in z'),
    sa.Column('z_psfflux_mag', sa.Double(), autoincrement=False, nullable=True, comment='PSF AB magnitude in z (forced2) [mag]'),
    sa.Column('z_psfflux_magsigma', sa.Double(), autoincrement=False, nullable=True, comment='PSF magnitude error in z (forced2) [mag]'),
    sa.Column('z_psfflux_flag', sa.Boolean(), autoincrement=False, nullable=True, comment='PSF flux failure flag in z (forced2)'),
    sa.Column('z_pixelflags_edge', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'edge' set in z"),
    sa.Column('z_pixelflags_interpolated', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'interpolated' set in z"),
    sa.Column('z_pixelflags_saturated', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'saturated' set in z"),
    sa.Column('z_pixelflags_cr', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'cr' set in z"),
    sa.Column('z_pixelflags_clipped', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'clipped' set in z"),
    sa.Column('z_pixelflags_rejected', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'rejected' set in z"),
    sa.Column('z_pixelflags_inexact_psf', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'inexact_psf' set in z"),
    sa.Column('z_pixelflags_interpolatedcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'interpolatedcenter' set in z"),
    sa.Column('z_pixelflags_saturatedcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'saturatedcenter' set in z"),
    sa.Column('z_pixelflags_crcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'crcenter' set in z"),
    sa.Column('z_pixelflags_clippedcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'clippedcenter' set in z"),
    sa.Column('z_pixelflags_rejectedcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'rejectedcenter' set in z"),
    sa.Column('z_pixelflags_inexact_psfcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'inexact_psfcenter' set in z"),
    sa.Column('z_pixelflags_bright_object', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'bright_object' set in z"),
    sa.Column('z_pixelflags_bright_objectcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'bright_objectcenter' set in z"),
    sa.Column('z_blendedness_abs_flux', sa.Double(), autoincrement=False, nullable=True, comment='Blendedness (absolute flux) in z (meas)'),
    sa.Column('z_blendedness_flag', sa.Boolean(), autoincrement=False, nullable=True, comment='Blendedness failure flag in z (meas)'),
    sa.Column('z_inputcount_value', sa.Integer(), autoincrement=False, nullable=True, comment='Number of input visits at the centre in z'),
    sa.Column('z_extendedness_value', sa.Double(), autoincrement=False, nullable=True, comment='Extendedness (0 point source, 1 extended) in z'),
    sa.Column('z_extendedness_flag', sa.Boolean(), autoincrement=False, nullable=True, comment='Extendedness failure flag in z'),
    sa.Column('z_localbackground_flux', sa.Double(), autoincrement=False, nullable=True, comment='Local background flux in z [nJy]'),
    sa.Column('y_cmodel_mag', sa.Double(), autoincrement=False, nullable=True, comment='CModel AB magnitude in y [mag]'),
    sa.Column('y_cmodel_magsigma', sa.Double(), autoincrement=False, nullable=True, comment='CModel magnitude error in y [mag]'),
    sa.Column('y_cmodel_fracdev', sa.Double(), autoincrement=False, nullable=True, comment='CModel fraction of flux in the de Vaucouleurs component, y'),
    sa.Column('y_cmodel_flag', sa.Boolean(), autoincrement=False, nullable=True, comment='CModel failure flag in y'),
    sa.Column('y_psfflux_mag', sa.Double(), autoincrement=False, nullable=True, comment='PSF AB magnitude in y (forced2) [mag]'),
    sa.Column('y_psfflux_magsigma', sa.Double(), autoincrement=False, nullable=True, comment='PSF magnitude error in y (forced2) [mag]'),
    sa.Column('y_psfflux_flag', sa.Boolean(), autoincrement=False, nullable=True, comment='PSF flux failure flag in y (forced2)'),
    sa.Column('y_pixelflags_edge', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'edge' set in y"),
    sa.Column('y_pixelflags_interpolated', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'interpolated' set in y"),
    sa.Column('y_pixelflags_saturated', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'saturated' set in y"),
    sa.Column('y_pixelflags_cr', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'cr' set in y"),
    sa.Column('y_pixelflags_clipped', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'clipped' set in y"),
    sa.Column('y_pixelflags_rejected', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'rejected' set in y"),
    sa.Column('y_pixelflags_inexact_psf', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'inexact_psf' set in y"),
    sa.Column('y_pixelflags_interpolatedcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'interpolatedcenter' set in y"),
    sa.Column('y_pixelflags_saturatedcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'saturatedcenter' set in y"),
    sa.Column('y_pixelflags_crcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'crcenter' set in y"),
    sa.Column('y_pixelflags_clippedcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'clippedcenter' set in y"),
    sa.Column('y_pixelflags_rejectedcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'rejectedcenter' set in y"),
    sa.Column('y_pixelflags_inexact_psfcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'inexact_psfcenter' set in y"),
    sa.Column('y_pixelflags_bright_object', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'bright_object' set in y"),
    sa.Column('y_pixelflags_bright_objectcenter', sa.Boolean(), autoincrement=False, nullable=True, comment="Pixel flag 'bright_objectcenter' set in y"),
    sa.Column('y_blendedness_abs_flux', sa.Double(), autoincrement=False, nullable=True, comment='Blendedness (absolute flux) in y (meas)'),
    sa.Column('y_blendedness_flag', sa.Boolean(), autoincrement=False, nullable=True, comment='Blendedness failure flag in y (meas)'),
    sa.Column('y_inputcount_value', sa.Integer(), autoincrement=False, nullable=True, comment='Number of input visits at the centre in y'),
    sa.Column('y_extendedness_value', sa.Double(), autoincrement=False, nullable=True, comment='Extendedness (0 point source, 1 extended) in y'),
    sa.Column('y_extendedness_flag', sa.Boolean(), autoincrement=False, nullable=True, comment='Extendedness failure flag in y'),
    sa.Column('y_localbackground_flux', sa.Double(), autoincrement=False, nullable=True, comment='Local background flux in y [nJy]'),
    sa.Column('i_cmodel_exp_ellipse_11', sa.Double(), autoincrement=False, nullable=True, comment='CModel exponential ellipse second moment I11 in i (meas) [arcsec2]'),
    sa.Column('i_cmodel_exp_ellipse_22', sa.Double(), autoincrement=False, nullable=True, comment='CModel exponential ellipse second moment I22 in i (meas) [arcsec2]'),
    sa.Column('i_cmodel_exp_ellipse_12', sa.Double(), autoincrement=False, nullable=True, comment='CModel exponential ellipse second moment I12 in i (meas) [arcsec2]'),
    sa.Column('i_cmodel_dev_ellipse_11', sa.Double(), autoincrement=False, nullable=True, comment='CModel de Vaucouleurs ellipse second moment I11 in i (meas) [arcsec2]'),
    sa.Column('i_cmodel_dev_ellipse_22', sa.Double(), autoincrement=False, nullable=True, comment='CModel de Vaucouleurs ellipse second moment I22 in i (meas) [arcsec2]'),
    sa.Column('i_cmodel_dev_ellipse_12', sa.Double(), autoincrement=False, nullable=True, comment='CModel de Vaucouleurs ellipse second moment I12 in i (meas) [arcsec2]'),
    sa.Column('i_cmodel_ellipse_11', sa.Double(), autoincrement=False, nullable=True, comment='CModel combined ellipse second moment I11 in i (meas) [arcsec2]'),
    sa.Column('i_cmodel_ellipse_22', sa.Double(), autoincrement=False, nullable=True, comment='CModel combined ellipse second moment I22 in i (meas) [arcsec2]'),
    sa.Column('i_cmodel_ellipse_12', sa.Double(), autoincrement=False, nullable=True, comment='CModel combined ellipse second moment I12 in i (meas) [arcsec2]'),
    sa.Column('r_cmodel_exp_ellipse_11', sa.Double(), autoincrement=False, nullable=True, comment='CModel exponential ellipse second moment I11 in r (meas) [arcsec2]'),
    sa.Column('r_cmodel_exp_ellipse_22', sa.Double(), autoincrement=False, nullable=True, comment='CModel exponential ellipse second moment I22 in r (meas) [arcsec2]'),
    sa.Column('r_cmodel_exp_ellipse_12', sa.Double(), autoincrement=False, nullable=True, comment='CModel exponential ellipse second moment I12 in r (meas) [arcsec2]'),
    sa.Column('r_cmodel_dev_ellipse_11', sa.Double(), autoincrement=False, nullable=True, comment='CModel de Vaucouleurs ellipse second moment I11 in r (meas) [arcsec2]'),
    sa.Column('r_cmodel_dev_ellipse_22', sa.Double(), autoincrement=False, nullable=True, comment='CModel de Vaucouleurs ellipse second moment I22 in r (meas) [arcsec2]'),
    sa.Column('r_cmodel_dev_ellipse_12', sa.Double(), autoincrement=False, nullable=True, comment='CModel de Vaucouleurs ellipse second moment I12 in r (meas) [arcsec2]'),
    sa.Column('r_cmodel_ellipse_11', sa.Double(), autoincrement=False, nullable=True, comment='CModel combined ellipse second moment I11 in r (meas) [arcsec2]'),
    sa.Column('r_cmodel_ellipse_22', sa.Double(), autoincrement=False, nullable=True, comment='CModel combined ellipse second moment I22 in r (meas) [arcsec2]'),
    sa.Column('r_cmodel_ellipse_12', sa.Double(), autoincrement=False, nullable=True, comment='CModel combined ellipse second moment I12 in r (meas) [arcsec2]'),
    sa.Column('r_convolvedflux_3_20_flux', sa.Double(), autoincrement=False, nullable=True, comment='Flux in a 2.0 arcsec aperture after PSF convolution to 3 arcsec (kron3_20) in r [nJy]'),
    sa.Column('i_convolvedflux_3_20_flux', sa.Double(), autoincrement=False, nullable=True, comment='Flux in a 2.0 arcsec aperture after PSF convolution to 3 arcsec (kron3_20) in i [nJy]'),
    sa.Column('g_cmodel_flux', sa.Double(), autoincrement=False, nullable=True, comment='CModel flux in g [nJy]'),
    sa.Column('r_cmodel_flux', sa.Double(), autoincrement=False, nullable=True, comment='CModel flux in r [nJy]'),
    sa.Column('i_cmodel_flux', sa.Double(), autoincrement=False, nullable=True, comment='CModel flux in i [nJy]'),
    sa.Column('data_release', sa.Text(), server_default='pdr2_wide', nullable=False, comment='HSC data release'),
    sa.Column('ingest_batch_id', sa.BigInteger(), nullable=True, comment='Ingest batch that last stored this row'),
    sa.Column('extra', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False, comment='Columns of the source without a typed column'),
    sa.CheckConstraint('dec >= -90 AND dec <= 90', name=op.f('ck_hsc_object_dec_range')),
    sa.CheckConstraint('ra >= 0 AND ra < 360', name=op.f('ck_hsc_object_ra_range')),
    sa.ForeignKeyConstraint(['ingest_batch_id'], ['ingest_batch.id'], name=op.f('fk_hsc_object_ingest_batch_id_ingest_batch')),
    sa.PrimaryKeyConstraint('object_id', name=op.f('pk_hsc_object')),
    comment='HSC CAS catalog rows (PDR2 forced/forced2/meas columns), one per object'
    )
    op.create_index('ix_hsc_object_q3c', 'hsc_object', [sa.literal_column('q3c_ang2ipix(ra, dec)')], unique=False)
    op.create_table('ingest_reject',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('batch_id', sa.BigInteger(), nullable=False),
    sa.Column('line', sa.BigInteger(), nullable=True, comment='Line (text files) or row number (tables), 1-based'),
    sa.Column('field', sa.Text(), nullable=True, comment='Column or field at fault'),
    sa.Column('raw_value', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['ingest_batch.id'], name=op.f('fk_ingest_reject_batch_id_ingest_batch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_reject')),
    comment='Rows and files refused by an ingest'
    )
    op.create_index(op.f('ix_ingest_reject_batch_id'), 'ingest_reject', ['batch_id'], unique=False)
    op.create_table('model',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False, comment='wgan, encoder, cae, dcae'),
    sa.Column('config', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('sample_id', sa.BigInteger(), nullable=True, comment='Training sample'),
    sa.Column('parent_model_id', sa.BigInteger(), nullable=True, comment='E.g. the WGAN an encoder belongs to'),
    sa.Column('checkpoint_uri', sa.Text(), nullable=True),
    sa.Column('sha256', sa.Text(), nullable=True),
    sa.Column('metrics', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('code_version', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['parent_model_id'], ['model.id'], name=op.f('fk_model_parent_model_id_model')),
    sa.ForeignKeyConstraint(['sample_id'], ['sample.id'], name=op.f('fk_model_sample_id_sample')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model')),
    comment='Registry of trained models'
    )
    op.create_table('cutout',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('object_id', sa.BigInteger(), nullable=False),
    sa.Column('band', sa.Text(), nullable=False, comment="g, r, i, z, y; or e.g. 'gri' for a rendered RGB image"),
    sa.Column('uri', sa.Text(), nullable=False, comment='Absolute path or URL of the file'),
    sa.Column('hdu', sa.Text(), server_default='IMAGE', nullable=False, comment='HDU name holding the pixels'),
    sa.Column('format', sa.Text(), nullable=False),
    sa.Column('rendered', sa.Boolean(), server_default=sa.text('false'), nullable=False, comment='Pre-rendered RGB, not calibrated flux'),
    sa.Column('shape', postgresql.ARRAY(sa.Integer()), nullable=False, comment='Pixel array shape (numpy order)'),
    sa.Column('sha256', sa.Text(), nullable=False),
    sa.Column('ingest_batch_id', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("(format = 'fits' AND band IN ('g', 'r', 'i', 'z', 'y')) OR (format <> 'fits' AND band ~ '^[grizy]{3}$')", name=op.f('ck_cutout_band')),
    sa.CheckConstraint("format IN ('fits', 'png', 'jpeg')", name=op.f('ck_cutout_format')),
    sa.ForeignKeyConstraint(['ingest_batch_id'], ['ingest_batch.id'], name=op.f('fk_cutout_ingest_batch_id_ingest_batch')),
    sa.ForeignKeyConstraint(['object_id'], ['hsc_object.object_id'], name=op.f('fk_cutout_object_id_hsc_object')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cutout')),
    sa.UniqueConstraint('uri', 'hdu', name=op.f('uq_cutout_uri_hdu')),
    comment='Cutout image files: pointers with checksums (pixels stay in the files)'
    )
    op.create_index(op.f('ix_cutout_object_id'), 'cutout', ['object_id'], unique=False)
    op.create_index(op.f('ix_cutout_sha256'), 'cutout', ['sha256'], unique=False)
    op.create_table('sample_member',
    sa.Column('sample_id', sa.BigInteger(), nullable=False),
    sa.Column('object_id', sa.BigInteger(), nullable=False),
    sa.Column('idx', sa.BigInteger(), nullable=False, comment='Index of the object in the sample, 0-based'),
    sa.ForeignKeyConstraint(['object_id'], ['hsc_object.object_id'], name=op.f('fk_sample_member_object_id_hsc_object')),
    sa.ForeignKeyConstraint(['sample_id'], ['sample.id'], name=op.f('fk_sample_member_sample_id_sample'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sample_id', 'object_id', name=op.f('pk_sample_member')),
    sa.UniqueConstraint('sample_id', 'idx', name=op.f('uq_sample_member_sample_id_idx')),
    comment='Members of each sample'
    )
    op.create_index(op.f('ix_sample_member_object_id'), 'sample_member', ['object_id'], unique=False)
    op.create_table('score_run',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('method', sa.Text(), server_default='wgan', nullable=False, comment='wgan or dcae'),
    sa.Column('model_id', sa.BigInteger(), nullable=False),
    sa.Column('sample_id', sa.BigInteger(), nullable=False),
    sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False, comment='lambda, iterations, optimiser, seed'),
    sa.Column('status', sa.Text(), server_default='pending', nullable=False),
    sa.Column('code_version', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'running', 'complete', 'failed')", name=op.f('ck_score_run_status')),
    sa.ForeignKeyConstraint(['model_id'], ['model.id'], name=op.f('fk_score_run_model_id_model')),
    sa.ForeignKeyConstraint(['sample_id'], ['sample.id'], name=op.f('fk_score_run_sample_id_sample')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_score_run')),
    comment='Scoring runs: model x sample x parameters'
    )
    op.create_table('cluster_label',
    sa.Column('run_id', sa.BigInteger(), nullable=False),
    sa.Column('model_id', sa.BigInteger(), nullable=False),
    sa.Column('object_id', sa.BigInteger(), nullable=False),
    sa.Column('method', sa.Text(), nullable=False, comment='gmm or hdbscan'),
    sa.Column('label', sa.Integer(), nullable=False, comment='-1 for HDBSCAN noise'),
    sa.Column('probability', sa.Double(), nullable=True),
    sa.ForeignKeyConstraint(['model_id'], ['model.id'], name=op.f('fk_cluster_label_model_id_model')),
    sa.ForeignKeyConstraint(['object_id'], ['hsc_object.object_id'], name=op.f('fk_cluster_label_object_id_hsc_object')),
    sa.ForeignKeyConstraint(['run_id'], ['score_run.id'], name=op.f('fk_cluster_label_run_id_score_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'model_id', 'object_id', 'method', name=op.f('pk_cluster_label')),
    comment='Cluster labels (GMM, HDBSCAN) with membership probabilities'
    )
    op.create_table('embedding',
    sa.Column('run_id', sa.BigInteger(), nullable=False),
    sa.Column('model_id', sa.BigInteger(), nullable=False),
    sa.Column('object_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False, comment='residual or real'),
    sa.Column('vector', postgresql.ARRAY(sa.REAL()), nullable=False),
    sa.CheckConstraint("kind IN ('residual', 'real')", name=op.f('ck_embedding_kind')),
    sa.ForeignKeyConstraint(['model_id'], ['model.id'], name=op.f('fk_embedding_model_id_model')),
    sa.ForeignKeyConstraint(['object_id'], ['hsc_object.object_id'], name=op.f('fk_embedding_object_id_hsc_object')),
    sa.ForeignKeyConstraint(['run_id'], ['score_run.id'], name=op.f('fk_embedding_run_id_score_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'model_id', 'object_id', 'kind', name=op.f('pk_embedding')),
    comment='Autoencoder latent vectors per run, model and object'
    )
    op.create_table('image_shard',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False, comment='packed (preprocessed inputs) or result (reconstructions, residuals)'),
    sa.Column('uri', sa.Text(), nullable=False),
    sa.Column('sha256', sa.Text(), nullable=True, comment='Checksum once the shard is complete'),
    sa.Column('n_images', sa.Integer(), server_default='0', nullable=False),
    sa.Column('config', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False, comment='Size, bands, preprocessing'),
    sa.Column('sample_id', sa.BigInteger(), nullable=True),
    sa.Column('run_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('packed', 'result')", name=op.f('ck_image_shard_kind')),
    sa.ForeignKeyConstraint(['run_id'], ['score_run.id'], name=op.f('fk_image_shard_run_id_score_run')),
    sa.ForeignKeyConstraint(['sample_id'], ['sample.id'], name=op.f('fk_image_shard_sample_id_sample')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_image_shard')),
    sa.UniqueConstraint('uri', name=op.f('uq_image_shard_uri')),
    comment='HDF5 image shards: packed inputs and scoring results'
    )
    op.create_table('release',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('version', sa.Text(), nullable=False),
    sa.Column('run_id', sa.BigInteger(), nullable=False),
    sa.Column('out_dir', sa.Text(), nullable=False),
    sa.Column('manifest', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('status', sa.Text(), server_default='cutting', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('cutting', 'complete', 'failed')", name=op.f('ck_release_status')),
    sa.ForeignKeyConstraint(['run_id'], ['score_run.id'], name=op.f('fk_release_run_id_score_run')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_release')),
    sa.UniqueConstraint('version', name=op.f('uq_release_version')),
    comment='Versioned catalog releases; append-only, complete releases are immutable'
    )
    op.create_table('umap_coord',
    sa.Column('run_id', sa.BigInteger(), nullable=False),
    sa.Column('model_id', sa.BigInteger(), nullable=False),
    sa.Column('object_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('x', sa.Double(), nullable=False),
    sa.Column('y', sa.Double(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['model.id'], name=op.f('fk_umap_coord_model_id_model')),
    sa.ForeignKeyConstraint(['object_id'], ['hsc_object.object_id'], name=op.f('fk_umap_coord_object_id_hsc_object')),
    sa.ForeignKeyConstraint(['run_id'], ['score_run.id'], name=op.f('fk_umap_coord_run_id_score_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'model_id', 'object_id', 'kind', name=op.f('pk_umap_coord')),
    comment='UMAP coordinates per run, embedding model and object'
    )
    op.create_table('anomaly_score',
    sa.Column('run_id', sa.BigInteger(), nullable=False),
    sa.Column('object_id', sa.BigInteger(), nullable=False),
    sa.Column('s_gen', sa.Double(), nullable=True, comment='Generator (pixel) score: sum |x - G(z)|'),
    sa.Column('s_disc', sa.Double(), nullable=True, comment='Discriminator (feature) score: sum |d(x) - d(G(z))|'),
    sa.Column('s_anom', sa.Double(), nullable=True, comment='Combined score (1-lambda) s_gen + lambda s_disc'),
    sa.Column('result_shard_id', sa.BigInteger(), nullable=True, comment='Shard with the reconstruction and residual'),
    sa.Column('result_row', sa.Integer(), nullable=True),
    sa.CheckConstraint("s_anom IS NULL OR s_anom NOT IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8)", name=op.f('ck_anomaly_score_s_anom_finite')),
    sa.CheckConstraint("s_disc IS NULL OR s_disc NOT IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8)", name=op.f('ck_anomaly_score_s_disc_finite')),
    sa.CheckConstraint("s_gen IS NULL OR s_gen NOT IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8)", name=op.f('ck_anomaly_score_s_gen_finite')),
    sa.ForeignKeyConstraint(['object_id'], ['hsc_object.object_id'], name=op.f('fk_anomaly_score_object_id_hsc_object')),
    sa.ForeignKeyConstraint(['result_shard_id'], ['image_shard.id'], name=op.f('fk_anomaly_score_result_shard_id_image_shard')),
    sa.ForeignKeyConstraint(['run_id'], ['score_run.id'], name=op.f('fk_anomaly_score_run_id_score_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'object_id', name=op.f('pk_anomaly_score')),
    comment='Raw anomaly scores per run and object'
    )
    op.create_index(op.f('ix_anomaly_score_object_id'), 'anomaly_score', ['object_id'], unique=False)
    op.create_table('packed_image',
    sa.Column('shard_id', sa.BigInteger(), nullable=False),
    sa.Column('object_id', sa.BigInteger(), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False, comment="Row in the shard's datasets, 0-based"),
    sa.ForeignKeyConstraint(['object_id'], ['hsc_object.object_id'], name=op.f('fk_packed_image_object_id_hsc_object')),
    sa.ForeignKeyConstraint(['shard_id'], ['image_shard.id'], name=op.f('fk_packed_image_shard_id_image_shard'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('shard_id', 'object_id', name=op.f('pk_packed_image')),
    sa.UniqueConstraint('shard_id', 'row', name=op.f('uq_packed_image_shard_id_row')),
    comment='Row of each object in the packed image shards'
    )
    op.create_index(op.f('ix_packed_image_object_id'), 'packed_image', ['object_id'], unique=False)
    op.execute(RELEASE_GUARD)


def downgrade() -> None:
    op.execute("DROP TRIGGER release_append_only ON release")
    op.execute("DROP FUNCTION release_append_only()")
    op.drop_index(op.f('ix_packed_image_object_id'), table_name='packed_image')
    op.drop_table('packed_image')
    op.drop_index(op.f('ix_anomaly_score_object_id'), table_name='anomaly_score')
    op.drop_table('anomaly_score')
    op.drop_table('umap_coord')
    op.drop_table('release')
    op.drop_table('image_shard')
    op.drop_table('embedding')
    op.drop_table('cluster_label')
    op.drop_table('score_run')
    op.drop_index(op.f('ix_sample_member_object_id'), table_name='sample_member')
    op.drop_table('sample_member')
    op.drop_index(op.f('ix_cutout_sha256'), table_name='cutout')
    op.drop_index(op.f('ix_cutout_object_id'), table_name='cutout')
    op.drop_table('cutout')
    op.drop_table('model')
    op.drop_index(op.f('ix_ingest_reject_batch_id'), table_name='ingest_reject')
    op.drop_table('ingest_reject')
    op.drop_index('ix_hsc_object_q3c', table_name='hsc_object')
    op.drop_table('hsc_object')
    op.drop_index('ix_bright_star_mask_poly', table_name='bright_star_mask', postgresql_using='gist')
    op.drop_index(op.f('ix_bright_star_mask_mask_version'), table_name='bright_star_mask')
    op.drop_index('ix_bright_star_mask_circle', table_name='bright_star_mask', postgresql_using='gist')
    op.drop_table('bright_star_mask')
    op.drop_table('sample')
    op.drop_table('ingest_batch')
    op.execute("DROP EXTENSION IF EXISTS pg_sphere")
    op.execute("DROP EXTENSION IF EXISTS q3c")
