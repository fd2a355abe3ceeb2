"""Civil applications: forms pre-filled from shared documents, cases followed to completion, disputes.

The hub shares documents so that offices can process applications; this package holds the applications
themselves (cases, their steps, attachments, the offline hand-off to a counter). Every step is an audited
state change whose notices commit with it (``hub.uow.Trail``).
"""
