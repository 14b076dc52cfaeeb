INSERT INTO service.api_keys (key_id, name, scope, key_sha256) VALUES (%(key_id)s, %(name)s, %(scope)s, %(key_sha256)s)
RETURNING key_id, name, scope, created_at, revoked_at
