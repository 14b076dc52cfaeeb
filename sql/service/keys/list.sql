SELECT key_id, name, scope, created_at, revoked_at FROM service.api_keys ORDER BY created_at, key_id
