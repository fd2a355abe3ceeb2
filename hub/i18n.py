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
        "unknown-bundle.title": "Unknown bundle",
        "unknown-bundle.detail": "There is no life-event bundle '{bundle}'.",
        "csrf-failed.title": "Form expired",
        "csrf-failed.detail": "The form could not be verified; reload the page and try again.",
        "consent-not-found.title": "Consent not found",
        "consent-not-found.detail": "There is no consent with this id granted to you.",
        "consent-expired.title": "Consent expired",
        "consent-expired.detail": "The consent has expired; ask the resident for a new one.",
        "consent-revoked.title": "Consent revoked",
        "consent-revoked.detail": "The resident has revoked this consent.",
        "consent-paused.title": "Consent paused",
        "consent-paused.detail": "The resident has paused this consent; it cannot be used until resumed.",
        "consent-exhausted.title": "Consent used up",
        "consent-exhausted.detail": "Every use this consent allowed has been made.",
        "consent-scope.title": "Outside the consent",
        "consent-scope.detail": "The consent does not cover this document, view, purpose, subject or time.",
        "redirect-uri-not-registered.title": "Redirect URI not registered",
        "redirect-uri-not-registered.detail": "The redirect_uri is not registered for this client.",
        "consent-request-not-found.title": "Consent request not found",
        "consent-request-not-found.detail": "There is no such consent request.",
        "consent-request-closed.title": "Consent request already decided",
        "consent-request-closed.detail": "This consent request is no longer pending ({state}).",
        "consent-request-not-for-you.title": "Not your consent request",
        "consent-request-not-for-you.detail": "This consent request concerns someone else.",
        "consent-transition.title": "Not possible in this state",
        "consent-transition.detail": "The consent cannot be changed like that now ({code}).",
        "mandate-invalid.title": "Mandate not usable",
        "mandate-invalid.detail": "The mandate is unknown, inactive or does not cover this ({code}).",
        "link-expired.title": "Link expired or used",
        "link-expired.detail": "This consent link has expired or was already used; ask for a new QR code.",
        "agent-not-found.title": "Agent not found",
        "agent-not-found.detail": "There is no resident account with that user name.",
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
        "agency-bad-response.title": "Holding agency sent an unusable answer",
        "agency-bad-response.detail": "The agency '{agency}' answered with data the hub refuses to read; "
        "nothing was returned.",
        "audit-unavailable.title": "Audit log unavailable",
        "audit-unavailable.detail": "The access could not be recorded in the audit log, so no data was "
        "returned.",
        "not-found.title": "Not found",
        "not-found.detail": "There is nothing at this address.",
        "method-not-allowed.title": "Method not allowed",
        "method-not-allowed.detail": "This address does not accept that method.",
        "internal-error.title": "Internal error",
        "internal-error.detail": "Something went wrong on our side; the request id identifies it.",
        "document-not-issuable.title": "Document cannot be issued",
        "document-not-issuable.detail": "Documents of type '{document_type}' cannot be issued as "
        "e-documents.",
        "invalid-issuance-number.title": "Invalid issuance number",
        "invalid-issuance-number.detail": "An issuance number has 16 digits (groups of four) and its last "
        "digit is a check digit; this one does not check out, so at least one digit is mistyped.",
        "issuance-not-found.title": "No such issuance",
        "issuance-not-found.detail": "There is no e-document with this number that you may access.",
        "issuance-content-expired.title": "Content no longer kept",
        "issuance-content-expired.detail": "The retention window of this e-document has passed; only its "
        "metadata is kept.",
        "issuance-already-revoked.title": "Already revoked",
        "issuance-already-revoked.detail": "This e-document has already been revoked.",
        "revocation-not-allowed.title": "Revocation not allowed",
        "revocation-not-allowed.detail": "Only agency clients may revoke e-documents.",
        "tsa-unavailable.title": "Time-stamping authority unavailable",
        "tsa-unavailable.detail": "The time-stamping authority did not answer, so no document was issued.",
        "unsupported-media-type.title": "Unsupported media type",
        "unsupported-media-type.detail": "Send the body as {expected}.",
    },
    "ko": {
        "unknown-bundle.title": "알 수 없는 묶음",
        "unknown-bundle.detail": "'{bundle}' 생활 사건 묶음이 없습니다.",
        "csrf-failed.title": "양식 만료",
        "csrf-failed.detail": "양식을 확인할 수 없습니다. 페이지를 새로 고친 뒤 다시 시도하십시오.",
        "consent-not-found.title": "동의를 찾을 수 없음",
        "consent-not-found.detail": "귀하에게 부여된 해당 ID의 동의가 없습니다.",
        "consent-expired.title": "동의 만료",
        "consent-expired.detail": "동의 기간이 끝났습니다. 주민에게 새 동의를 요청하십시오.",
        "consent-revoked.title": "동의 철회됨",
        "consent-revoked.detail": "주민이 이 동의를 철회했습니다.",
        "consent-paused.title": "동의 일시 정지됨",
        "consent-paused.detail": "주민이 이 동의를 일시 정지했습니다. 재개될 때까지 사용할 수 없습니다.",
        "consent-exhausted.title": "동의 사용 횟수 소진",
        "consent-exhausted.detail": "이 동의로 허용된 사용 횟수를 모두 사용했습니다.",
        "consent-scope.title": "동의 범위 밖",
        "consent-scope.detail": "동의가 이 문서, 열람 범위, 목적, 대상자 또는 기간을 포함하지 않습니다.",
        "redirect-uri-not-registered.title": "등록되지 않은 리디렉션 URI",
        "redirect-uri-not-registered.detail": "이 클라이언트에 등록되지 않은 redirect_uri입니다.",
        "consent-request-not-found.title": "동의 요청 없음",
        "consent-request-not-found.detail": "해당 동의 요청이 없습니다.",
        "consent-request-closed.title": "이미 처리된 동의 요청",
        "consent-request-closed.detail": "이 동의 요청은 더 이상 대기 중이 아닙니다 ({state}).",
        "consent-request-not-for-you.title": "본인의 동의 요청이 아님",
        "consent-request-not-for-you.detail": "이 동의 요청은 다른 사람에 관한 것입니다.",
        "consent-transition.title": "현재 상태에서 불가",
        "consent-transition.detail": "지금은 동의를 그렇게 변경할 수 없습니다 ({code}).",
        "mandate-invalid.title": "위임 사용 불가",
        "mandate-invalid.detail": "위임이 없거나 비활성 상태이거나 이 범위를 포함하지 않습니다 ({code}).",
        "link-expired.title": "링크 만료 또는 사용됨",
        "link-expired.detail": "이 동의 링크는 만료되었거나 이미 사용되었습니다. 새 QR 코드를 요청하십시오.",
        "agent-not-found.title": "대리인을 찾을 수 없음",
        "agent-not-found.detail": "해당 사용자 이름의 주민 계정이 없습니다.",
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
        "agency-bad-response.title": "보유 기관 응답 오류",
        "agency-bad-response.detail": "기관 '{agency}'의 응답을 허브가 읽을 수 없는 형식이라 거부했으며, "
        "아무것도 반환하지 않았습니다.",
        "audit-unavailable.title": "감사 로그 사용 불가",
        "audit-unavailable.detail": "접근 기록을 감사 로그에 남길 수 없어 어떤 데이터도 반환하지 않았습니다.",
        "not-found.title": "찾을 수 없음",
        "not-found.detail": "이 주소에는 아무것도 없습니다.",
        "method-not-allowed.title": "허용되지 않는 메서드",
        "method-not-allowed.detail": "이 주소는 해당 메서드를 받지 않습니다.",
        "internal-error.title": "내부 오류",
        "internal-error.detail": "서버 쪽에서 문제가 발생했습니다. 요청 ID로 확인할 수 있습니다.",
        "document-not-issuable.title": "발급할 수 없는 문서",
        "document-not-issuable.detail": "'{document_type}' 문서는 전자문서로 발급할 수 없습니다.",
        "invalid-issuance-number.title": "잘못된 발급번호",
        "invalid-issuance-number.detail": "발급번호는 4자리씩 끊은 16자리 숫자이며 마지막 자리는 "
        "검사 숫자입니다. 검사 숫자가 맞지 않으므로 잘못 입력한 자리가 있습니다.",
        "issuance-not-found.title": "발급 내역 없음",
        "issuance-not-found.detail": "이 번호로 접근할 수 있는 전자문서가 없습니다.",
        "issuance-content-expired.title": "내용 보관 기간 경과",
        "issuance-content-expired.detail": "이 전자문서의 보관 기간이 지나 메타데이터만 남아 있습니다.",
        "issuance-already-revoked.title": "이미 취소됨",
        "issuance-already-revoked.detail": "이 전자문서는 이미 취소되었습니다.",
        "revocation-not-allowed.title": "취소 권한 없음",
        "revocation-not-allowed.detail": "기관 클라이언트만 전자문서를 취소할 수 있습니다.",
        "tsa-unavailable.title": "시점확인 기관 응답 없음",
        "tsa-unavailable.detail": "시점확인(타임스탬프) 기관이 응답하지 않아 문서를 발급하지 않았습니다.",
        "unsupported-media-type.title": "지원하지 않는 미디어 유형",
        "unsupported-media-type.detail": "본문을 {expected} 형식으로 보내 주십시오.",
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
