"""Web building blocks every package uses: app keys, routes with access policies, JSON, errors."""
