"""Caller-language messages for API errors.

Korean and English for now; the web issue moves these into Babel catalogs with four more languages. Keys are
stable so catalogs can be checked for completeness.
"""

from __future__ import annotations

from typing import Final

SUPPORTED: Final = ("ko", "en")
DEFAULT: Final = "ko"

MESSAGES: Final[dict[str, dict[str, str]]] = {
    "en": {
        "role-required.title": "Not allowed for this account",
        "role-required.detail": "This needs a signed-in {role} account.",
        "invalid-credentials.title": "Sign-in failed",
        "invalid-credentials.detail": "Unknown user name or wrong password.",
        "bad-range.title": "Bad range",
        "bad-range.detail": "The requested indices do not fit the published log: {constraint}.",
        "invalid-cursor.title": "Invalid cursor",
        "invalid-cursor.detail": "The paging cursor is malformed; start again without it.",
        "leaf-not-found.title": "No such log entry",
        "leaf-not-found.detail": "There is no log entry you may read at this index.",
        "no-checkpoint.title": "No checkpoint yet",
        "no-checkpoint.detail": "The log has not published a checkpoint yet; try again in a second.",
        "unauthorized.title": "Authentication required",
        "unauthorized.detail": "Send a bearer access token in the Authorization header.",
        "invalid-token.title": "Invalid access token",
        "invalid-token.detail": "The access token is malformed, forged or not meant for this hub.",
        "token-expired.title": "Access token expired",
        "token-expired.detail": "The access token has expired; request a new one.",
        "invalid-client.title": "Client authentication failed",
        "invalid-client.detail": "Unknown client or wrong secret.",
        "unsupported-grant-type.title": "Unsupported grant type",
        "unsupported-grant-type.detail": "Only grant_type=client_credentials is supported.",
        "basis-not-allowed.title": "Legal basis not allowed",
        "basis-not-allowed.detail": "Statute {statute} does not allow a {client_kind} client to look up view "
        "'{view}' of {document_type}.",
        "unknown-document-type.title": "Unknown document type",
        "unknown-document-type.detail": "There is no document type '{document_type}'.",
        "unknown-view.title": "Unknown view",
        "unknown-view.detail": "Document type '{document_type}' has no view '{view}'.",
        "subject-not-found.title": "Subject not found",
        "subject-not-found.detail": "The holding agency has no record of this subject.",
        "invalid-resident-number.title": "Malformed resident registration number",
        "invalid-resident-number.detail": "A resident registration number has 13 digits (YYMMDD-GNNNNNN) "
        "with a valid birth date.",
        "validation-error.title": "Invalid request",
        "validation-error.detail": "The request does not match the expected format: {errors}.",
        "agency-unavailable.title": "Holding agency unavailable",
        "agency-unavailable.detail": "The agency '{agency}' did not answer in time; nothing was returned.",
        "audit-unavailable.title": "Audit log unavailable",
        "audit-unavailable.detail": "The access could not be recorded in the audit log, so no data was "
        "returned.",
        "not-found.title": "Not found",
        "not-found.detail": "There is nothing at this address.",
        "method-not-allowed.title": "Method not allowed",
        "method-not-allowed.detail": "This address does not accept that method.",
        "internal-error.title": "Internal error",
        "internal-error.detail": "Something went wrong on our side; the request id identifies it.",
    },
    "ko": {
        "role-required.title": "이 계정으로는 허용되지 않습니다",
        "role-required.detail": "{role} 계정으로 로그인해야 합니다.",
        "invalid-credentials.title": "로그인 실패",
        "invalid-credentials.detail": "알 수 없는 사용자 이름이거나 비밀번호가 틀렸습니다.",
        "bad-range.title": "잘못된 범위",
        "bad-range.detail": "요청한 인덱스가 공개된 로그와 맞지 않습니다: {constraint}.",
        "invalid-cursor.title": "잘못된 커서",
        "invalid-cursor.detail": "페이지 커서 형식이 잘못되었습니다. 커서 없이 다시 시작하십시오.",
        "leaf-not-found.title": "해당 로그 항목 없음",
        "leaf-not-found.detail": "이 인덱스에는 열람할 수 있는 로그 항목이 없습니다.",
        "no-checkpoint.title": "아직 체크포인트 없음",
        "no-checkpoint.detail": "로그가 아직 체크포인트를 공개하지 않았습니다. 잠시 후 다시 시도하십시오.",
        "unauthorized.title": "인증이 필요합니다",
        "unauthorized.detail": "Authorization 헤더에 Bearer 접근 토큰을 보내 주십시오.",
        "invalid-token.title": "유효하지 않은 접근 토큰",
        "invalid-token.detail": "접근 토큰의 형식이 잘못되었거나 위조되었거나 이 허브용이 아닙니다.",
        "token-expired.title": "접근 토큰 만료",
        "token-expired.detail": "접근 토큰이 만료되었습니다. 새 토큰을 발급받으십시오.",
        "invalid-client.title": "클라이언트 인증 실패",
        "invalid-client.detail": "알 수 없는 클라이언트이거나 비밀키가 틀렸습니다.",
        "unsupported-grant-type.title": "지원하지 않는 grant type",
        "unsupported-grant-type.detail": "grant_type=client_credentials만 지원합니다.",
        "basis-not-allowed.title": "허용되지 않는 법적 근거",
        "basis-not-allowed.detail": "법령 {statute}은(는) {client_kind} 클라이언트의 {document_type} "
        "'{view}' 조회를 허용하지 않습니다.",
        "unknown-document-type.title": "알 수 없는 문서 종류",
        "unknown-document-type.detail": "'{document_type}' 문서 종류가 없습니다.",
        "unknown-view.title": "알 수 없는 열람 범위",
        "unknown-view.detail": "문서 종류 '{document_type}'에는 '{view}' 열람 범위가 없습니다.",
        "subject-not-found.title": "대상자 없음",
        "subject-not-found.detail": "보유 기관에 해당 대상자의 기록이 없습니다.",
        "invalid-resident-number.title": "주민등록번호 형식 오류",
        "invalid-resident-number.detail": "주민등록번호는 유효한 생년월일을 포함한 "
        "13자리(YYMMDD-GNNNNNN)입니다.",
        "validation-error.title": "잘못된 요청",
        "validation-error.detail": "요청이 요구되는 형식과 맞지 않습니다: {errors}.",
        "agency-unavailable.title": "보유 기관 응답 없음",
        "agency-unavailable.detail": "기관 '{agency}'이(가) 제한 시간 안에 응답하지 않아 아무것도 반환하지 "
        "않았습니다.",
        "audit-unavailable.title": "감사 로그 사용 불가",
        "audit-unavailable.detail": "접근 기록을 감사 로그에 남길 수 없어 어떤 데이터도 반환하지 않았습니다.",
        "not-found.title": "찾을 수 없음",
        "not-found.detail": "이 주소에는 아무것도 없습니다.",
        "method-not-allowed.title": "허용되지 않는 메서드",
        "method-not-allowed.detail": "이 주소는 해당 메서드를 받지 않습니다.",
        "internal-error.title": "내부 오류",
        "internal-error.detail": "서버 쪽에서 문제가 발생했습니다. 요청 ID로 확인할 수 있습니다.",
    },
}


def negotiate(accept_language: str | None) -> str:
    """Pick the best supported language from an Accept-Language header (RFC 9110 §12.5.4 q-values)."""
    if not accept_language:
        return DEFAULT
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag))
    for _, _, tag in sorted(ranked):
        primary = tag.split("-")[0]
        if primary in SUPPORTED:
            return primary
        if tag == "*":
            return DEFAULT
    return DEFAULT


def message(lang: str, key: str, **params: object) -> str:
    catalog = MESSAGES.get(lang, MESSAGES[DEFAULT])
    template = catalog.get(key) or MESSAGES["en"][key]
    return template.format(**params)
