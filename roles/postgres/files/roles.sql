-- The database's roles and rights, converged on every run of the postgres role. Run as the
-- superuser over the pod's socket, connected to the app's database, with the names as psql
-- variables (never a password):
--   psql -X -q -v ON_ERROR_STOP=1 -v owner=demo -v login_a=demo_a -v login_b=demo_b < roles.sql
--
-- owner              owns the app's database and everything in it; cannot log in
-- login_a, login_b   the app's two logins (the alternating-users rotation: one holds the current
--                    password, the other takes the next one), members of owner; every session of
--                    theirs acts as owner (ALTER ROLE ... SET role), so what a migration creates
--                    belongs to owner and stays usable after the next rotation
-- None of them is a superuser or may create roles or databases, and PUBLIC (so they too) may not
-- connect to any other database. Each change is reported as a NOTICE starting "changed:"; a run
-- that reports none changed nothing.
SET k3s_platform.owner TO :'owner';
SET k3s_platform.logins TO :'login_a';
SET k3s_platform.logins_b TO :'login_b';

DO $converge$
DECLARE
    owner_name text := current_setting('k3s_platform.owner');
    logins text[] := ARRAY[current_setting('k3s_platform.logins'), current_setting('k3s_platform.logins_b')];
    login text;
    found_role pg_roles%ROWTYPE;
    owner_oid oid;
    login_oid oid;
    item record;
BEGIN
    SELECT * INTO found_role FROM pg_roles WHERE rolname = owner_name;
    IF NOT FOUND THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN', owner_name);
        RAISE NOTICE 'changed: created the owner role %', owner_name;
    ELSIF found_role.oid = 10 THEN
        RAISE EXCEPTION 'role % is the bootstrap superuser of this data directory, which an earlier release of the postgres role created for the app', owner_name
            USING HINT = 'It cannot lose its superuser right. Move the data to a fresh data directory: back up, delete the StatefulSet and its claim, run playbooks/database.yml, restore (docs/operations.md, "Database: moving from the superuser app role").';
    ELSIF found_role.rolsuper OR found_role.rolcreaterole OR found_role.rolcreatedb OR found_role.rolcanlogin
            OR found_role.rolreplication OR found_role.rolbypassrls THEN
        EXECUTE format('ALTER ROLE %I NOSUPERUSER NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS', owner_name);
        RAISE NOTICE 'changed: took the extra rights of role %', owner_name;
    END IF;
    owner_oid := (SELECT oid FROM pg_roles WHERE rolname = owner_name);

    FOREACH login IN ARRAY logins LOOP
        SELECT * INTO found_role FROM pg_roles WHERE rolname = login;
        IF NOT FOUND THEN
            -- No password and no LOGIN yet: the credentials step gives them to one login at a time.
            EXECUTE format('CREATE ROLE %I NOLOGIN', login);
            RAISE NOTICE 'changed: created the login role %', login;
        ELSIF found_role.rolsuper OR found_role.rolcreaterole OR found_role.rolcreatedb OR found_role.rolreplication
                OR found_role.rolbypassrls OR NOT found_role.rolinherit THEN
            EXECUTE format('ALTER ROLE %I NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS INHERIT', login);
            RAISE NOTICE 'changed: took the extra rights of role %', login;
        END IF;
        login_oid := (SELECT oid FROM pg_roles WHERE rolname = login);
        IF NOT EXISTS (SELECT FROM pg_auth_members WHERE roleid = owner_oid AND member = login_oid) THEN
            EXECUTE format('GRANT %I TO %I', owner_name, login);
            RAISE NOTICE 'changed: made % a member of %', login, owner_name;
        END IF;
        IF NOT EXISTS (
            SELECT FROM pg_db_role_setting
            WHERE setrole = login_oid AND setdatabase = 0 AND format('role=%s', owner_name) = ANY (setconfig)
        ) THEN
            EXECUTE format('ALTER ROLE %I SET role = %L', login, owner_name);
            RAISE NOTICE 'changed: sessions of % act as %', login, owner_name;
        END IF;
    END LOOP;

    IF (SELECT datdba FROM pg_database WHERE datname = current_database()) <> owner_oid THEN
        EXECUTE format('ALTER DATABASE %I OWNER TO %I', current_database(), owner_name);
        RAISE NOTICE 'changed: % owns database %', owner_name, current_database();
    END IF;

    -- Tables and views someone else created in the app's schemas (a restore by hand, an earlier
    -- release): the owner takes them, with their sequences.
    FOR item IN
        SELECT c.oid::regclass AS relation,
               CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END AS kind
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm') AND c.relowner <> owner_oid
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO %I', item.kind, item.relation, owner_name);
        RAISE NOTICE 'changed: % owns %', owner_name, item.relation;
    END LOOP;

    FOR item IN
        SELECT datname FROM pg_database
        WHERE datallowconn AND EXISTS (
            SELECT FROM aclexplode(coalesce(datacl, acldefault('d', datdba))) acl
            WHERE acl.grantee = 0 AND acl.privilege_type IN ('CONNECT', 'TEMPORARY')
        )
    LOOP
        EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', item.datname);
        RAISE NOTICE 'changed: PUBLIC may no longer connect to database %', item.datname;
    END LOOP;
END
$converge$;
