"""The config system: OmegaConf YAML groups in this folder + typed composition (compose.py).

Every stage imports its helpers from here (schemas use `choice`; outputs save
`resolved_yaml` through curation.data.fileio.save_resolved);
only experiments/ composes whole runs out of the groups.
"""
