"""Who a client quotes a request id to (500 answers). Deployments override it with SUPPORT_CONTACT."""
SUPPORT_CONTACT = "support@company.com"
