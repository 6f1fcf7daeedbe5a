"""The customers' side on the web: the public help center, the service catalog and the customer portal."""
