"""Home, the legally required footer pages, language choice and the health check."""
