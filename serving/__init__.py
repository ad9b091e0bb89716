"""The BentoML forecast service (`serving.service:EngagementImpact`). Imports from `training`."""
