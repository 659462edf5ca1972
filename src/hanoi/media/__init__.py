"""Media hashes: hashing on the device (PDQ, MD5, SHA-256), validation, and the PDQ index."""
