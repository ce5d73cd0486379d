"""Table definitions (SQLAlchemy Core). The schema and its indexes are explained,
query by query, in docs/schema.md; change the two together, and add a migration.

Conventions:
- ids are 64-bit and time-ordered (roost.ids), so `created_at` of a status, account
  or follow is read from its id and not stored twice.
- counters live in *_stats tables so that a like does not rewrite (and lock) the
  status row that every reader wants, and so they can be cached apart from it.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR

from roost.db.types import IdType, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Mastodon's visibility enum values, stored as small integers.
VISIBILITY_PUBLIC = 0
VISIBILITY_UNLISTED = 1
VISIBILITY_PRIVATE = 2
VISIBILITY_DIRECT = 3

id_nodes = Table(
    "id_nodes",
    metadata,
    Column("node_id", Integer, primary_key=True, autoincrement=False),
    Column("holder", String(200), nullable=False, server_default=""),
    Column("expires_at_ms", IdType, nullable=False, server_default="0"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=False),
    Column("username", String(30), nullable=False),
    # Lower-cased username: the unique key and the lookup key (usernames are case-insensitive).
    Column("username_lower", String(30), nullable=False, unique=True),
    Column("display_name", String(30), nullable=False, server_default=""),
    Column("note", Text, nullable=False, server_default=""),
    Column("fields", JSON, nullable=False),
    Column("locked", Boolean, nullable=False, server_default="0"),
    Column("bot", Boolean, nullable=False, server_default="0"),
    Column("discoverable", Boolean, nullable=False, server_default="1"),
    Column("is_group", Boolean, nullable=False, server_default="0"),
    Column("avatar_path", String(300), nullable=True),
    Column("header_path", String(300), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    # Whether a stored file is still someone's avatar or header (roost.media.storage).
    Index("ix_accounts_avatar_path", "avatar_path",
          postgresql_where=text("avatar_path IS NOT NULL"),
          sqlite_where=text("avatar_path IS NOT NULL")),
    Index("ix_accounts_header_path", "header_path",
          postgresql_where=text("header_path IS NOT NULL"),
          sqlite_where=text("header_path IS NOT NULL")),
)

# Account search (roost.search.accounts) reads username_lower and lower(display_name)
# as ranges in byte order, and hashtag search tags.name_lower: migration 0009 adds the
# indexes for it, which differ per database (COLLATE "C" on PostgreSQL, an expression
# index on SQLite), so they are not declared here (docs/search.md).

account_stats = Table(
    "account_stats",
    metadata,
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("statuses_count", Integer, nullable=False, server_default="0"),
    Column("followers_count", Integer, nullable=False, server_default="0"),
    Column("following_count", Integer, nullable=False, server_default="0"),
    Column("last_status_at", UTCDateTime, nullable=True),
    # The accounts too big to fan out to (timelines.fanout.merged_at_read).
    Index("ix_account_stats_followers_count", "followers_count"),
)

users = Table(
    "users",
    metadata,
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("email_lower", String(320), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("admin", Boolean, nullable=False, server_default="0"),
    Column("approved", Boolean, nullable=False, server_default="1"),
    Column("disabled", Boolean, nullable=False, server_default="0"),
    Column("locale", String(16), nullable=False, server_default="en"),
    Column("default_privacy", String(10), nullable=False, server_default="public"),
    Column("default_sensitive", Boolean, nullable=False, server_default="0"),
    Column("default_language", String(8), nullable=True),
    Column("signup_reason", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

applications = Table(
    "applications",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=False),
    Column("name", String(60), nullable=False),
    Column("website", String(2000), nullable=True),
    Column("redirect_uris", Text, nullable=False),
    Column("scopes", String(2000), nullable=False),
    Column("client_id", String(64), nullable=False, unique=True),
    # Only a hash is kept: the secret is shown once, when the app is registered.
    Column("client_secret_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

authorization_codes = Table(
    "authorization_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column(
        "application_id", IdType, ForeignKey("applications.id", ondelete="CASCADE"), nullable=False
    ),
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scopes", String(2000), nullable=False),
    Column("code_challenge", String(128), nullable=True),
    Column("expires_at", UTCDateTime, nullable=False),
)

access_tokens = Table(
    "access_tokens",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=False),
    # sha256 of the bearer token: a leaked database does not leak usable tokens.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column(
        "application_id", IdType, ForeignKey("applications.id", ondelete="CASCADE"), nullable=False
    ),
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
    Column("scopes", String(2000), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Index("ix_access_tokens_account_id_application_id", "account_id", "application_id"),
)

statuses = Table(
    "statuses",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=False),
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("in_reply_to_id", IdType, nullable=True),
    Column("in_reply_to_account_id", IdType, nullable=True),
    Column("reblog_of_id", IdType, nullable=True),
    Column("text", Text, nullable=False, server_default=""),
    Column("content_html", Text, nullable=False, server_default=""),
    Column("spoiler_text", Text, nullable=False, server_default=""),
    Column("visibility", SmallInteger, nullable=False),
    Column("sensitive", Boolean, nullable=False, server_default="0"),
    Column("language", String(8), nullable=True),
    Column("application_id", IdType, nullable=True),
    Column("edited_at", UTCDateTime, nullable=True),
    CheckConstraint("visibility BETWEEN 0 AND 3", name="visibility_range"),
    # The account-statuses page and the home pull query walk this index newest-first
    # (a B-tree scans backwards as well as forwards, so no DESC is needed). visibility
    # rides along so that the visibility predicate is decided in the index: those two
    # read only index pages (an index-only scan) and the table only for the page's rows.
    Index("ix_statuses_account_id_id_visibility", "account_id", "id", "visibility"),
    # Thread walks (context) follow replies downwards.
    Index(
        "ix_statuses_in_reply_to_id",
        "in_reply_to_id",
        postgresql_where=text("in_reply_to_id IS NOT NULL"),
        sqlite_where=text("in_reply_to_id IS NOT NULL"),
    ),
    # One boost per account per status; unreblog's (status, booster) lookup.
    Index(
        "ix_statuses_reblog_of_id_account_id",
        "reblog_of_id",
        "account_id",
        unique=True,
        postgresql_where=text("reblog_of_id IS NOT NULL"),
        sqlite_where=text("reblog_of_id IS NOT NULL"),
    ),
    # "Who boosted this" (reblogged_by), newest boost first: reads the page, not
    # every boost of a popular status (migration 0004).
    Index(
        "ix_statuses_reblog_of_id_id",
        "reblog_of_id",
        "id",
        postgresql_where=text("reblog_of_id IS NOT NULL"),
        sqlite_where=text("reblog_of_id IS NOT NULL"),
    ),
)

status_stats = Table(
    "status_stats",
    metadata,
    Column("status_id", IdType, ForeignKey("statuses.id", ondelete="CASCADE"), primary_key=True),
    Column("replies_count", Integer, nullable=False, server_default="0"),
    Column("reblogs_count", Integer, nullable=False, server_default="0"),
    Column("favourites_count", Integer, nullable=False, server_default="0"),
)

mentions = Table(
    "mentions",
    metadata,
    Column("status_id", IdType, ForeignKey("statuses.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    # "Statuses that mention me" (notifications, direct visibility checks).
    Index("ix_mentions_account_id_status_id", "account_id", "status_id"),
)

follows = Table(
    "follows",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=False),
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column(
        "target_account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    ),
    Column("show_reblogs", Boolean, nullable=False, server_default="1"),
    Column("notify", Boolean, nullable=False, server_default="0"),
    # Unique pair, and the "whom do I follow" side of the home query: an index-only scan.
    Index(
        "ix_follows_account_id_target_account_id", "account_id", "target_account_id", unique=True
    ),
    # Followers page, newest follow first (keyset on the follow row's id).
    Index("ix_follows_target_account_id_id", "target_account_id", "id"),
    # Following page, newest follow first.
    Index("ix_follows_account_id_id", "account_id", "id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("status_id", IdType, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, server_default=func.now()),
)

# --- interactions, the social graph's other edges, notifications (issue: social core) ---

favourites = Table(
    "favourites",
    metadata,
    # The id is the favourite's own, time-ordered: GET /favourites pages by it.
    Column("id", IdType, primary_key=True, autoincrement=False),
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("status_id", IdType, ForeignKey("statuses.id", ondelete="CASCADE"), nullable=False),
    # One like per account per status; also the viewer-flag lookup (account, status).
    Index("ix_favourites_account_id_status_id", "account_id", "status_id", unique=True),
    # The viewer's favourites page, newest first.
    Index("ix_favourites_account_id_id", "account_id", "id"),
    # favourited_by, newest first.
    Index("ix_favourites_status_id_id", "status_id", "id"),
)

bookmarks = Table(
    "bookmarks",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=False),
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("status_id", IdType, ForeignKey("statuses.id", ondelete="CASCADE"), nullable=False),
    Index("ix_bookmarks_account_id_status_id", "account_id", "status_id", unique=True),
    Index("ix_bookmarks_account_id_id", "account_id", "id"),
)

tags = Table(
    "tags",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False),
    # Hashtags match case-insensitively; the first spelling used is kept for display.
    Column("name_lower", String(100), nullable=False, unique=True),
)

status_tags = Table(
    "status_tags",
    metadata,
    # (tag_id, status_id) as the key serves the tag timeline newest-first.
    Column("tag_id", IdType, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Column("status_id", IdType, ForeignKey("statuses.id", ondelete="CASCADE"), primary_key=True),
    # The tags of a page of statuses (hydration).
    Index("ix_status_tags_status_id", "status_id"),
)

blocks = Table(
    "blocks",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=False),
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column(
        "target_account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    ),
    # The pair is the visibility check in both directions; also the blocks list.
    Index("ix_blocks_account_id_target_account_id", "account_id", "target_account_id", unique=True),
    Index("ix_blocks_target_account_id_account_id", "target_account_id", "account_id"),
    Index("ix_blocks_account_id_id", "account_id", "id"),
)

mutes = Table(
    "mutes",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=False),
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column(
        "target_account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    ),
    Column("hide_notifications", Boolean, nullable=False, server_default="1"),
    # NULL: until unmuted. Expired mutes are ignored by every query, and cleaned later.
    Column("expires_at", UTCDateTime, nullable=True),
    Index("ix_mutes_account_id_target_account_id", "account_id", "target_account_id", unique=True),
    # Who muted an author: the home fan-out's muters among the followers (migration 0010).
    Index("ix_mutes_target_account_id_account_id", "target_account_id", "account_id"),
    Index("ix_mutes_account_id_id", "account_id", "id"),
)

follow_requests = Table(
    "follow_requests",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=False),
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column(
        "target_account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    ),
    Column("show_reblogs", Boolean, nullable=False, server_default="1"),
    Column("notify", Boolean, nullable=False, server_default="0"),
    Index(
        "ix_follow_requests_account_id_target_account_id",
        "account_id",
        "target_account_id",
        unique=True,
    ),
    # A locked account's pending requests, newest first.
    Index("ix_follow_requests_target_account_id_id", "target_account_id", "id"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=False),
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column(
        "from_account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    ),
    # mention, status, reblog, follow, follow_request, favourite, poll, update
    Column("type", String(20), nullable=False),
    Column("status_id", IdType, ForeignKey("statuses.id", ondelete="CASCADE"), nullable=True),
    # The row that caused it (a favourite, follow, follow request or status id), so that
    # undoing the action removes the notification, and one action notifies once.
    Column("activity_id", IdType, nullable=False),
    Index("ix_notifications_account_id_id", "account_id", "id"),
    # A page of one type (types[]=mention), newest first (migration 0004).
    Index("ix_notifications_account_id_type_id", "account_id", "type", "id"),
    Index("ix_notifications_activity_id_account_id", "activity_id", "account_id", unique=True),
)

markers = Table(
    "markers",
    metadata,
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("timeline", String(20), primary_key=True),
    Column("last_read_id", IdType, nullable=False),
    Column("version", Integer, nullable=False, server_default="0"),
    Column("updated_at", UTCDateTime, nullable=False),
)

status_edits = Table(
    "status_edits",
    metadata,
    # One row per earlier version; its time-ordered id is when that version was replaced.
    Column("id", IdType, primary_key=True, autoincrement=False),
    Column("status_id", IdType, ForeignKey("statuses.id", ondelete="CASCADE"), nullable=False),
    Column("account_id", IdType, nullable=False),
    Column("text", Text, nullable=False),
    Column("content_html", Text, nullable=False),
    Column("spoiler_text", Text, nullable=False, server_default=""),
    Column("sensitive", Boolean, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_status_edits_status_id_id", "status_id", "id"),
)

# --- the event log (roost.events; docs/events.md) -------------------------------------

# Every event a write produces, appended in the write's own transaction. `position`
# orders events on SQLite (one writer: insertion order is commit order); on PostgreSQL
# transactions commit out of insertion order, so readers order by the id of the
# writing transaction (`txid`, set by a default that migration 0005 adds there) and
# only read transactions older than every one still running (events.outbox).
outbox_events = Table(
    "outbox_events",
    metadata,
    Column("position", IdType, primary_key=True, autoincrement=True),
    Column("event_id", IdType, nullable=False, unique=True),
    Column("type", String(40), nullable=False),
    Column("version", SmallInteger, nullable=False),
    # The partition key: the account that acted (its events stay in order).
    Column("account_id", IdType, nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("txid", IdType, nullable=True),
    Index("ix_outbox_events_txid_position", "txid", "position"),
    Index("ix_outbox_events_created_at", "created_at"),
    sqlite_autoincrement=True,  # positions never go back, even when pruning empties it
)

# How far a reader (the in-process dispatcher, the relay) has read the outbox.
event_cursors = Table(
    "event_cursors",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("txid", IdType, nullable=False, server_default="0"),
    Column("position", IdType, nullable=False, server_default="0"),
    Column("updated_at", UTCDateTime, nullable=False),
)

# The events each consumer has applied: inserted in the transaction of the effects, so
# a redelivered event is recognised and skipped (exactly-once effects).
processed_events = Table(
    "processed_events",
    metadata,
    Column("consumer", String(40), primary_key=True),
    Column("event_id", IdType, primary_key=True, autoincrement=False),
    Column("processed_at", UTCDateTime, nullable=False),
    Index("ix_processed_events_processed_at", "processed_at"),
)

# Events whose handler failed, waiting for their next attempt (backoff with jitter).
event_retries = Table(
    "event_retries",
    metadata,
    Column("consumer", String(40), primary_key=True),
    Column("event_id", IdType, primary_key=True, autoincrement=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text, nullable=False),
    Index("ix_event_retries_next_attempt_at", "next_attempt_at"),
)

# Events a consumer gave up on after its last attempt; kept whole (the outbox forgets
# events after its retention window) until `roost events dead replay|drop`.
event_dead_letters = Table(
    "event_dead_letters",
    metadata,
    Column("consumer", String(40), primary_key=True),
    Column("event_id", IdType, primary_key=True, autoincrement=False),
    Column("type", String(40), nullable=False),
    Column("version", SmallInteger, nullable=False),
    Column("account_id", IdType, nullable=False),
    Column("payload", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("failed_at", UTCDateTime, nullable=False),
)

# Who runs a singleton job (the dispatcher, the relay) until when.
event_leases = Table(
    "event_leases",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# --- what the analytics and trend-input consumers keep (analytics/, trends/) ---------

# Accounts that did something (posted, liked, followed...) on a UTC day.
activity_days = Table(
    "activity_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("account_id", IdType, primary_key=True, autoincrement=False),
)

# Per UTC day: how many posts, sign-ups, likes, boosts and follows there were.
daily_counts = Table(
    "daily_counts",
    metadata,
    Column("day", Date, primary_key=True),
    Column("metric", String(40), primary_key=True),
    Column("value", Integer, nullable=False),
)

# Which accounts used a hashtag in a public status on a UTC day: Mastodon scores tag
# trends (and a tag's history) by distinct accounts per day (MASTODON_API.md).
tag_uses = Table(
    "tag_uses",
    metadata,
    Column("tag_id", IdType, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False),
    Column("day", Date, primary_key=True),
    Column("account_id", IdType, primary_key=True, autoincrement=False),
)

# Statuses liked or boosted lately: the candidates a status trend is scored from.
trend_status_candidates = Table(
    "trend_status_candidates",
    metadata,
    Column("status_id", IdType, ForeignKey("statuses.id", ondelete="CASCADE"),
           primary_key=True, autoincrement=False),
    Column("last_interaction_at", UTCDateTime, nullable=False),
    Index("ix_trend_status_candidates_last_interaction_at", "last_interaction_at"),
)

# --- media attachments (roost.media; docs/media.md) -------------------------------------

MEDIA_PROCESSING = 0
MEDIA_READY = 1
MEDIA_FAILED = 2

media_attachments = Table(
    "media_attachments",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=False),
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    # No foreign key: deleting a status leaves its rows for the media consumer, which
    # removes them with their files (status.deleted; roost.media.consumer).
    Column("status_id", IdType, nullable=True),
    # Its place among the status's attachments, in the order media_ids[] gave them.
    Column("position", SmallInteger, nullable=False, server_default="0"),
    Column("type", String(10), nullable=False, server_default="image"),
    # Stored names (roost.media.storage): the original as uploaded while processing,
    # then the processed original; the preview once processed.
    Column("file_name", String(100), nullable=False),
    Column("preview_file_name", String(100), nullable=True),
    Column("description", Text, nullable=True),
    Column("focus_x", Float, nullable=False, server_default="0"),
    Column("focus_y", Float, nullable=False, server_default="0"),
    Column("meta", JSON, nullable=True),
    Column("blurhash", String(100), nullable=True),
    Column("state", SmallInteger, nullable=False, server_default="1"),
    Column("error", String(300), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    # A status's attachments, in order (hydration).
    Index("ix_media_attachments_status_id", "status_id",
          postgresql_where=text("status_id IS NOT NULL"),
          sqlite_where=text("status_id IS NOT NULL")),
    # The clean-up of uploads never attached (roost.media.prune).
    Index("ix_media_attachments_created_at", "created_at",
          postgresql_where=text("status_id IS NULL"), sqlite_where=text("status_id IS NULL")),
    # Whether a stored file is still referenced (roost.media.storage.unreferenced).
    Index("ix_media_attachments_file_name", "file_name"),
    Index("ix_media_attachments_preview_file_name", "preview_file_name"),
)

# --- the search index (roost.search; docs/search.md) --------------------------------------

# Each database has its own kind of full-text index, so these two tables live in a
# MetaData of their own: `metadata` keeps only tables that every database has (tests
# read every one of them). roost.search.dialects picks the one the connection has;
# migration 0006 makes it.
search_metadata = MetaData(naming_convention=metadata.naming_convention)

# PostgreSQL: one tsvector per status (not boosts), under a GIN index (migration 0006).
status_search = Table(
    "status_search",
    search_metadata,
    Column("status_id", IdType, ForeignKey(statuses.c.id, ondelete="CASCADE"),
           primary_key=True, autoincrement=False),
    Column("document", TSVECTOR, nullable=False),
    Index("ix_status_search_document", "document", postgresql_using="gin"),
)

# SQLite: an FTS5 virtual table, `rowid` = the status id. Declared here only to be
# queried: it is created by migration 0006 (CREATE VIRTUAL TABLE ... USING fts5), has
# no foreign key, and so keeps a deleted status's row until the search consumer (or
# `roost search reindex`) removes it; queries join statuses, so such a row never matches.
status_search_fts = Table(
    "status_search_fts",
    search_metadata,
    Column("rowid", IdType, primary_key=True, autoincrement=False),
    Column("document", Text, nullable=False),
)
