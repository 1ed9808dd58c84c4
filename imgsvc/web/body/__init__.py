"""Request-body plumbing: the request class that reads a body once, the multipart
splitter, and the upload buffers reused between requests."""
