"""The read-only LOGIN role for user SQL, with no way back.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

User SQL (``hscanom sql run``/``shell``, the explorer's WHERE filter) used to run on the
owner's session after ``SET LOCAL ROLE hscanom_reader``; any query could undo that with
``set_config('role', 'none', true)``. From this revision it logs in as ``hscanom_reader``:

* the role gets LOGIN and loses every way up: NOSUPERUSER NOCREATEDB NOCREATEROLE
  NOREPLICATION NOBYPASSRLS, and it is removed from every role it was a member of
  (``pg_read_server_files``, ``pg_execute_server_program``, ``pg_signal_backend``, ...);
* on the role itself: ``default_transaction_read_only = on``, ``statement_timeout = 30s``,
  ``idle_in_transaction_session_timeout = 60s``, ``lock_timeout = 5s``;
* SELECT on every table, view and sequence of schema ``public`` (USAGE on the schema), and
  by default on tables created later; nothing else;
* in this database, EXECUTE revoked from PUBLIC on the server-file, large-object, signal and
  configuration functions (:data:`REVOKED_FUNCTIONS`) and on every function of the
  ``dblink``, ``postgres_fdw``, ``adminpack`` and ``file_fdw`` extensions if installed;
  USAGE on the procedural languages (:data:`LANGUAGES`) revoked from PUBLIC, so ``DO``
  blocks are refused (existing functions keep running); CREATE on schema ``public`` revoked
  from PUBLIC (PostgreSQL 15's default).

``set_config`` stays executable (``pg_dump`` and drivers call it); with no role to switch to
it cannot raise privileges. Statements that change functions' ACLs need a superuser: when the
migrating role is not one, that part is skipped with a warning and ``hscanom db
grant-reader`` (run by a superuser) completes it. Roles are cluster-wide: the downgrade
restores PUBLIC's EXECUTE and language USAGE where PostgreSQL's initial privileges had them,
and leaves the role and its settings (other databases of the cluster may use it).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READER = "hscanom_reader"

#: Functions (all overloads, schema pg_catalog) no user SQL may execute.
REVOKED_FUNCTIONS = (
    # server files
    "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "pg_ls_logdir", "pg_ls_waldir",
    "pg_ls_tmpdir", "pg_ls_archive_statusdir", "pg_ls_logicalsnapdir", "pg_ls_logicalmapdir",
    "pg_ls_replslotdir", "pg_current_logfile",
    # large objects (server-side import/export and every lo_* function)
    "lo_import", "lo_export", "lo_open", "lo_close", "loread", "lowrite", "lo_lseek", "lo_lseek64",
    "lo_tell", "lo_tell64", "lo_truncate", "lo_truncate64", "lo_creat", "lo_create", "lo_unlink",
    "lo_get", "lo_put", "lo_from_bytea",
    # signals and server administration
    "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile",
    "pg_promote", "pg_log_backend_memory_contexts", "pg_switch_wal", "pg_create_restore_point",
    "pg_stat_reset", "pg_stat_reset_shared", "pg_stat_reset_single_table_counters",
    "pg_stat_reset_single_function_counters", "pg_stat_reset_slru", "pg_stat_reset_replication_slot",
)
#: Extensions whose functions no user SQL may execute (when installed).
REVOKED_EXTENSIONS = ("dblink", "postgres_fdw", "adminpack", "file_fdw")
#: Procedural languages whose USAGE (hence ``DO``) PUBLIC loses (when installed).
LANGUAGES = ("plpgsql", "plperl", "plpython3u", "pltcl")

_FUNCTION_LIST = ", ".join(f"'{name}'" for name in REVOKED_FUNCTIONS)
_EXTENSION_LIST = ", ".join(f"'{name}'" for name in REVOKED_EXTENSIONS)
_LANGUAGE_LIST = ", ".join(f"'{name}'" for name in LANGUAGES)

#: The functions hardened in this database (regprocedure), for upgrade and downgrade.
TARGETS = f"""
SELECT p.oid::regprocedure AS fn
  FROM pg_proc p
 WHERE (p.pronamespace = 'pg_catalog'::regnamespace AND p.proname IN ({_FUNCTION_LIST}))
    OR p.oid IN (SELECT d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                  WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
                    AND d.deptype = 'e' AND e.extname IN ({_EXTENSION_LIST}))
"""

ROLE = f"""
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{READER}') THEN
        CREATE ROLE {READER} LOGIN;
    END IF;
END $$;
ALTER ROLE {READER} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT;
DO $$ DECLARE g text; BEGIN
    FOR g IN SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
              WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = '{READER}') LOOP
        EXECUTE format('REVOKE %I FROM {READER}', g);
    END LOOP;
END $$;
ALTER ROLE {READER} SET default_transaction_read_only = on;
ALTER ROLE {READER} SET statement_timeout = '30s';
ALTER ROLE {READER} SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE {READER} SET lock_timeout = '5s';
COMMENT ON ROLE {READER} IS 'hscanom: read-only LOGIN role for user SQL (SELECT only, no memberships; see docs/security.md)';
GRANT USAGE ON SCHEMA public TO {READER};
GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER};
GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {READER};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {READER};
"""

HARDEN = f"""
DO $$ DECLARE f regprocedure; l text; BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE WARNING 'hscanom 0005: % is not a superuser: EXECUTE on server-file, large-object and admin functions and USAGE on procedural languages were NOT revoked from PUBLIC; run `hscanom db grant-reader` as a superuser', current_user;
        RETURN;
    END IF;
    FOR f IN {TARGETS} LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
    FOR l IN SELECT lanname FROM pg_language WHERE lanname IN ({_LANGUAGE_LIST}) LOOP
        EXECUTE format('REVOKE USAGE ON LANGUAGE %I FROM PUBLIC', l);
    END LOOP;
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
END $$;
"""

#: Give PUBLIC back what PostgreSQL's initial privileges gave it (pg_init_privs, else the
#: built-in default: EXECUTE for PUBLIC).
RESTORE = f"""
DO $$ DECLARE f regprocedure; l text; BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RETURN;
    END IF;
    FOR f IN SELECT t.fn FROM ({TARGETS}) t
              WHERE NOT EXISTS (SELECT 1 FROM pg_init_privs i WHERE i.objoid = t.fn AND i.classoid = 'pg_proc'::regclass)
                 OR EXISTS (SELECT 1 FROM pg_init_privs i, aclexplode(i.initprivs) a
                             WHERE i.objoid = t.fn AND i.classoid = 'pg_proc'::regclass
                               AND a.grantee = 0 AND a.privilege_type = 'EXECUTE') LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f);
    END LOOP;
    FOR l IN SELECT lanname FROM pg_language WHERE lanname IN ({_LANGUAGE_LIST}) AND lanpltrusted LOOP
        EXECUTE format('GRANT USAGE ON LANGUAGE %I TO PUBLIC', l);
    END LOOP;
END $$;
"""


def upgrade() -> None:
    op.execute(ROLE)
    op.execute(HARDEN)


def downgrade() -> None:
    op.execute(RESTORE)
    op.execute(f"REVOKE SELECT ON ALL SEQUENCES IN SCHEMA public FROM {READER}")
