-- A fingerprint of what the mirror copies in full each run and the snapshots depend on besides
-- transactions: categories, group memberships, account types and the number of accounts
-- (accounts are never deleted). Compared with the mirror's to tell whether it is behind.
SELECT md5(
         coalesce((SELECT string_agg(concat_ws('|', code, kind, parent_code, normal_balance), ',' ORDER BY code)
                     FROM ledger.categories), '')
         || '#' || coalesce((SELECT string_agg(category_code || '|' || account_id::text, ',' ORDER BY category_code, account_id)
                               FROM ledger.category_members), '')
         || '#' || coalesce((SELECT string_agg(top_segment || '|' || normal_balance, ',' ORDER BY top_segment)
                               FROM ledger.account_types), '')
         || '#' || (SELECT count(*) FROM ledger.accounts)::text
       ) AS fingerprint
