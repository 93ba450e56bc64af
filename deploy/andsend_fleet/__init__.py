"""A fleet of tenant pipelines on Dagster: one job and one schedule per tenant of a tenants file.

* ``tenants``: the tenants file, parsed and checked (no secret values in it, only references);
* ``run_plan``: one tenant's Meltano invocation (command, environment, paths), pure;
* ``outcome``: a finished run's report turned into Dagster metadata and a verdict (retry or not);
* ``quota_hold``: a tenant whose Salesforce allocation is exhausted waits until it resets;
* ``pipes_meltano``: the Dagster Pipes process that runs Meltano for one tenant;
* ``definitions``: the code location (``dagster ... -m deploy.andsend_fleet.definitions``);
* ``local``: the whole fleet on the emulators (README: "A fleet of tenants on Dagster").
"""
