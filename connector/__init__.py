"""CRM clients. They know nothing of risk, SLA or surveys: they read records and write values.

Public surface: the protocol every client implements, its typed results, and the error tree.
"""

from __future__ import annotations

from connector.base import (
    CRMClient as CRMClient,
)
from connector.base import (
    DeletedRecord as DeletedRecord,
)
from connector.base import (
    FieldMeta as FieldMeta,
)
from connector.base import (
    RecordPage as RecordPage,
)
from connector.base import (
    WriteOutcome as WriteOutcome,
)
from connector.errors import (
    AuthenticationError as AuthenticationError,
)
from connector.errors import (
    ConfigurationError as ConfigurationError,
)
from connector.errors import (
    ConnectorError as ConnectorError,
)
from connector.errors import (
    RetryLaterError as RetryLaterError,
)
from connector.errors import (
    UnknownFieldError as UnknownFieldError,
)
