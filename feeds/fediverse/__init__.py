"""The fediverse accounts: protocol logic without threads (signatures, documents, inbox rules, repositories)."""
