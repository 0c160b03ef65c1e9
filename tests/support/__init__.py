"""What test modules import: clients, builders, assertion helpers, launchers. The conftest files hold only
fixtures and pytest hooks (and import from here), so no test module imports a conftest."""
