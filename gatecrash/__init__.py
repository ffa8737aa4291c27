"""gatecrash package."""
