-- Full refresh of analytics.categories and the membership closure analytics.account_categories
-- from staged_categories / staged_members (this run's Arrow reads) and analytics.accounts.
-- An account belongs to every prefix of its code (the code included), to every group it is a
-- member of, and to every group above those (parent_code, while the parent is a group) -- the
-- same membership as sql/ledger/category_membership.sql.
DELETE FROM analytics.categories;
INSERT INTO analytics.categories
SELECT code, kind, parent_code, normal_balance FROM staged_categories;

DELETE FROM analytics.account_categories;
INSERT INTO analytics.account_categories
WITH RECURSIVE group_up(member_group, category) AS (
    SELECT code, code FROM staged_categories WHERE kind = 'group'
    UNION
    SELECT g.member_group, c.parent_code
      FROM group_up g
      JOIN staged_categories c ON c.code = g.category AND c.kind = 'group'
      JOIN staged_categories p ON p.code = c.parent_code AND p.kind = 'group'
), paths AS (
    SELECT account, unnest(list_transform(range(1, len(string_split(account, ':')) + 1),
                                          lambda n: array_to_string(string_split(account, ':')[1:n], ':'))) AS category
      FROM analytics.accounts
), groups AS (
    SELECT g.category, a.account
      FROM staged_members m
      JOIN group_up g ON g.member_group = m.category_code
      JOIN analytics.accounts a ON a.account_id = m.account_id::VARCHAR
)
SELECT DISTINCT category, account FROM (SELECT category, account FROM paths UNION ALL SELECT category, account FROM groups);
