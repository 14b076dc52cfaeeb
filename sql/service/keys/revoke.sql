UPDATE service.api_keys SET revoked_at = now() WHERE key_id = %(key_id)s AND revoked_at IS NULL RETURNING key_id
