"""The backend services: each module builds one program's app from a context."""
