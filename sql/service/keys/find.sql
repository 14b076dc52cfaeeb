-- A key that is not revoked, by its public id; the caller compares the hash in constant time.
SELECT key_id, name, scope, created_at, revoked_at, key_sha256 FROM service.api_keys
 WHERE key_id = %(key_id)s AND revoked_at IS NULL
