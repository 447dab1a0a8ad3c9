"""bridge: escalate helpdesk tickets into JIRA and mirror engineering's progress back to customers."""

__version__ = "0.1.0"
