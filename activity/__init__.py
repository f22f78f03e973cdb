"""Person activity: what people did (opened, clicked, submitted, visited), recorded by mail, forms
and tracking, consumed by scoring, automations and reports. No blueprint."""
