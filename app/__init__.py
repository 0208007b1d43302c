"""Seedchain's reference application.

A small project-management app (users, projects, sprints, tasks, settings, menus,
metrics, PostGIS stores, a publishing workflow) whose schema and seed revisions
exercise every pattern the ``seeds`` engine supports. Importing this package has no
side effects: no engine, session or connection is created here.
"""
