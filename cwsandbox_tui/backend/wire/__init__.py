"""gRPC plumbing both API generations share: errors as statuses with AIP-193 details, the
gate every call passes (key, faults, undecodable requests), request limits and listing pages
served as kept bytes."""
