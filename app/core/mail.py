import io

from django.conf import settings
from django.core.mail.backends.console import EmailBackend

from config.logs import redact


class ConsoleEmailBackend(EmailBackend):
    """Django's console backend (mail goes to stdout, i.e. into the logs).

    Outside DEBUG the output is redacted like any log line: a password-reset link printed in full
    would hand the account to whoever reads the logs. Use the smtp backend to actually deliver mail.
    """

    def write_message(self, message):
        if settings.DEBUG:
            return super().write_message(message)
        stream, self.stream = self.stream, io.StringIO()
        try:
            super().write_message(message)
            captured = self.stream.getvalue()
        finally:
            self.stream = stream
        self.stream.write(redact(captured))
