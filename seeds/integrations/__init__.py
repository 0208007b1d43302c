"""Front ends: the ``seeds`` command, the Flask command group and the pytest plugin.

They parse what a user typed, call the runtime and the tools, and render results;
no logic of their own beyond that.
"""
