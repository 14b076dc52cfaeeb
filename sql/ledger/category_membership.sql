-- Which accounts each category under %(prefix)s holds (every category when NULL), with the
-- category's normal balance. Path categories hold every account whose code starts with them;
-- a group holds its members and the members of the groups nested under it.
WITH RECURSIVE group_tree AS (
    SELECT code AS category, code AS member_group FROM ledger.categories WHERE kind = 'group'
    UNION
    SELECT t.category, c.code
      FROM group_tree t JOIN ledger.categories c ON c.parent_code = t.member_group AND c.kind = 'group'
), memberships AS (
    SELECT array_to_string(s.segments[1:n], ':') AS category, a.code AS account
      FROM (SELECT code, string_to_array(code, ':') AS segments FROM ledger.accounts) s
      JOIN ledger.accounts a ON a.code = s.code,
           generate_series(1, cardinality(s.segments)) AS n
    UNION
    SELECT t.category, a.code
      FROM group_tree t
      JOIN ledger.category_members m ON m.category_code = t.member_group
      JOIN ledger.accounts a ON a.account_id = m.account_id
)
SELECT m.category, m.account,
       ledger.normal_balance_of_category(c.code, c.normal_balance) AS normal_balance
  FROM memberships m
  JOIN ledger.categories c ON c.code = m.category
 WHERE %(prefix)s::text IS NULL
    OR m.category = %(prefix)s::text
    OR left(m.category, length(%(prefix)s::text) + 1) = %(prefix)s::text || ':'
