"""Media attachments: processing, content-addressed storage, uploads, attachment to
statuses, and their clean-up (docs/media.md)."""
