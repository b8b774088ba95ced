"""albs: RPM version comparison, package headers, dependency solving, ledger
verification and a client of the albs build server.

Every error is an :class:`AlbsError`; each kind has its own subclass.
"""

from albs._albs import (
    AlbsError,
    ApiError,
    Client,
    Evr,
    IoError,
    Nevra,
    ParseError,
    Pool,
    Repo,
    RepoError,
    UnreachableError,
    UnsatisfiableError,
    VerificationError,
    audit,
    build_order,
    build_order_srpms,
    read_header,
    sha256_file,
    vercmp,
    verify_checkpoint,
    verify_record,
    verify_repo,
    write_repo,
)

__all__ = [
    "AlbsError",
    "ApiError",
    "Client",
    "Evr",
    "IoError",
    "Nevra",
    "ParseError",
    "Pool",
    "Repo",
    "RepoError",
    "UnreachableError",
    "UnsatisfiableError",
    "VerificationError",
    "audit",
    "build_order",
    "build_order_srpms",
    "read_header",
    "sha256_file",
    "vercmp",
    "verify_checkpoint",
    "verify_record",
    "verify_repo",
    "write_repo",
]
