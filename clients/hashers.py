"""A fast keyed hash for client secrets (DESIGN.md: slow hashing buys nothing for 256 random bits)."""

from __future__ import annotations

import hashlib
import hmac

from django.contrib.auth.hashers import BasePasswordHasher, mask_hash
from django.utils.crypto import constant_time_compare


class ClientSecretHasher(BasePasswordHasher):
    """HMAC-SHA256 keyed with a per-secret salt. Only for machine-generated, high-entropy secrets."""

    algorithm = "gatehouse_sha256"

    def encode(self, password: str, salt: str) -> str:
        self._check_encode_args(password, salt)
        digest = hmac.new(salt.encode(), password.encode(), hashlib.sha256).hexdigest()
        return f"{self.algorithm}${salt}${digest}"

    def decode(self, encoded: str) -> dict:
        algorithm, salt, digest = encoded.split("$", 2)
        assert algorithm == self.algorithm
        return {"algorithm": algorithm, "hash": digest, "salt": salt}

    def verify(self, password: str, encoded: str) -> bool:
        decoded = self.decode(encoded)
        return constant_time_compare(encoded, self.encode(password, decoded["salt"]))

    def safe_summary(self, encoded: str) -> dict:
        decoded = self.decode(encoded)
        return {"algorithm": decoded["algorithm"], "salt": mask_hash(decoded["salt"], show=2), "hash": mask_hash(decoded["hash"])}

    def harden_runtime(self, password: str, encoded: str) -> None:
        pass
