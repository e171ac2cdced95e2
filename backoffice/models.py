# No models of its own. This module's presence makes Django send post_migrate for this app,
# which re-applies the roles (backoffice/apps.py) after every migrate and test database flush.
