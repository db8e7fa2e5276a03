"""The triage app's pages, one module per page group (queue, case, entity, export, sign-in).

Why routers over one shared :class:`~claimguard.triage.web.ui.Ui`: each module registers
plain functions; the store, templates and signing keys of one app live in
``app.state.ui`` (built by :func:`claimguard.triage.app.create_app`).
"""
