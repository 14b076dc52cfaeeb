-- ledger.categories_audit(): records every change of group categories and of category memberships
-- in the audit log (I8): 'category.created' (groups), 'category.changed', 'category.member_added',
-- 'category.member_removed'. Path categories are made by accounts_after_insert and not audited.
CREATE OR REPLACE FUNCTION ledger.categories_audit() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog
    -- Transition tables carry no statistics; a nested loop over two of them is quadratic.
    SET enable_nestloop = off AS $$
BEGIN
    IF TG_TABLE_NAME = 'categories' THEN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO ledger.audit_log (action, target_type, target_id, after)
            SELECT 'category.created', 'category', n.code, to_jsonb(n) FROM new_rows n WHERE n.kind = 'group';
        ELSE
            INSERT INTO ledger.audit_log (action, target_type, target_id, before, after)
            SELECT 'category.changed', 'category', n.code, to_jsonb(o), to_jsonb(n)
              FROM new_rows n JOIN old_rows o USING (code) WHERE to_jsonb(n) IS DISTINCT FROM to_jsonb(o);
        END IF;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO ledger.audit_log (action, target_type, target_id, after)
        SELECT 'category.member_added', 'category', n.category_code,
               jsonb_build_object('account', (SELECT code FROM ledger.accounts a WHERE a.account_id = n.account_id))
          FROM new_rows n;
    ELSE
        INSERT INTO ledger.audit_log (action, target_type, target_id, before)
        SELECT 'category.member_removed', 'category', o.category_code,
               jsonb_build_object('account', (SELECT code FROM ledger.accounts a WHERE a.account_id = o.account_id))
          FROM old_rows o;
    END IF;
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION ledger.categories_audit() FROM PUBLIC;

CREATE OR REPLACE TRIGGER categories_audit_insert AFTER INSERT ON ledger.categories
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.categories_audit();
CREATE OR REPLACE TRIGGER categories_audit_update AFTER UPDATE ON ledger.categories
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.categories_audit();
CREATE OR REPLACE TRIGGER category_members_audit_insert AFTER INSERT ON ledger.category_members
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.categories_audit();
CREATE OR REPLACE TRIGGER category_members_audit_delete AFTER DELETE ON ledger.category_members
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.categories_audit();
