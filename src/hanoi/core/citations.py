"""The one table of legal citations and rule codes.

Every rule the software applies, every required field and every refusal ground cites a row
here, so a lawyer can correct an article or paragraph in one place and every decision, error
message and printed form follows. Paragraph numbers that start with ``~`` are approximate
(see ``shared/CONVENTION.md``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule code with the provision it applies and one sentence a lawyer can read.

    A rule of this node (instrument ``node``) has no article: where a setting decides it,
    ``setting`` names that setting (``policy: KEY`` in ``policy.yaml``, ``config: KEY`` in
    ``config.yaml``) so a reader knows where to look it up or change it.
    """

    code: str
    instrument: str
    article: str
    paragraph: str
    text: str
    setting: str = ""

    @property
    def citation(self) -> str:
        """Short human citation: ``UNCC Art. 40(~21)``, ``FIRST TLP 2.0`` (a standard without
        articles), ``node policy: assurances`` or ``node rule``."""
        if self.instrument == NODE:
            return f"{NODE} {self.setting}" if self.setting else f"{NODE} rule"
        if not self.article:
            return self.instrument
        para = f"({self.paragraph})" if self.paragraph else ""
        return f"{self.instrument} Art. {self.article}{para}"

    def as_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "instrument": self.instrument,
            "article": self.article,
            "paragraph": self.paragraph,
            "setting": self.setting,
            "citation": self.citation,
            "text": self.text,
        }


UNCC = "UNCC"
BUDAPEST_P2 = "CETS 224"
EU_EEVIDENCE = "EU 2023/1543"
NODE = "node"

_RULES: tuple[Rule, ...] = (
    # --- members, standing and the node's own integrity -------------------------------------
    Rule("MEMBER-STATE", UNCC, "1", "", "A member is identified by the ISO 3166-1 alpha-2 code of its State."),
    Rule("STANDING-ASSESSED", UNCC, "6", "", "A partner's standing changes only through a recorded safeguards assessment (human-rights consistency, Art. 6; conditions and safeguards, Art. 24)."),
    Rule("LEDGER-APPEND-ONLY", NODE, "", "", "The ledger is append-only: entries are never updated or deleted."),
    Rule("AUTH-ROLE", NODE, "", "", "The caller's role does not permit this action."),
    # --- the safeguards gate ----------------------------------------------------------------
    Rule("GATE-SUSPENDED", UNCC, "6", "", "The partner's standing is suspended after a safeguards assessment: nothing is exchanged with it."),
    Rule("GATE-CONCERNS", UNCC, "24", "", "The partner's standing records concerns: a named person must review before anything is exchanged."),
    Rule("GATE-NON-PARTY", UNCC, "40", "~1", "The partner's State is not a Party and no other treaty is recorded: a named person must review."),
    Rule("GATE-DISCRIMINATION", UNCC, "40", "~22", "A reviewer found substantial grounds that the request aims to prosecute or punish a person on account of sex, race, language, religion, nationality, ethnic origin or political opinions."),
    Rule("GATE-OFFENCE-SCOPE", UNCC, "2", "", "The offence is outside the catalogue (Arts. 7-17) and below the serious-crime threshold (maximum penalty of at least four years)."),
    Rule("GATE-DUAL-CRIMINALITY", UNCC, "40", "~9", "Coercive measures (stored data, real-time collection, interception) need the conduct to be a crime in both States."),
    Rule("GATE-ASSURANCES", NODE, "", "", "Node policy requires assurances before assistance in this case; review with the condition named.", setting="policy: assurances"),
    Rule("GATE-CONFIDENTIALITY", UNCC, "40", "~20", "The requested side cannot keep the request confidential: the requester must be told before execution."),
    Rule("GATE-ONWARD-TRANSFER", UNCC, "36", "", "Onward transfer to a third State or organisation needs the original sender's prior authorisation."),
    Rule("GATE-SPECIALTY", UNCC, "40", "~19", "Evidence is used only for the stated proceedings unless the requested State consents."),
    Rule("GATE-TLP", "FIRST TLP 2.0", "", "", "Traffic Light Protocol marking limits who may receive the item."),
    # --- request contents (Art. 40(15), 42) --------------------------------------------------
    Rule("CONTENT-REQUIRED", UNCC, "40", "~15", "A request must contain the contents the Convention requires."),
    Rule("CONTENT-LANGUAGE", UNCC, "40", "~14", "A request is made in a language acceptable to the requested State."),
    Rule("PRESERVATION-60-DAYS", UNCC, "42", "~7", "Preservation lasts at least 60 days and continues until the follow-up MLA request is decided."),
    # --- grounds for refusal -----------------------------------------------------------------
    Rule("REFUSE-NONCONFORMING", UNCC, "40", "~21(a)", "The request does not conform to the provisions of the article."),
    Rule("REFUSE-ESSENTIAL-INTERESTS", UNCC, "40", "~21(b)", "Execution is likely to prejudice sovereignty, security, ordre public or other essential interests."),
    Rule("REFUSE-DOMESTIC-LAW", UNCC, "40", "~21(c)", "Domestic law would forbid the same action in a similar domestic case."),
    Rule("REFUSE-LEGAL-SYSTEM", UNCC, "40", "~21(d)", "Granting the request would be contrary to the legal system of the requested State."),
    Rule("REFUSE-DISCRIMINATION", UNCC, "40", "~22", "Substantial grounds to believe the request aims to prosecute or punish a person on a discriminatory ground."),
    Rule("NOT-GROUND-FISCAL", UNCC, "40", "~23", "A request may not be refused on the sole ground that the offence involves fiscal matters."),
    Rule("NOT-GROUND-BANK-SECRECY", UNCC, "40", "~8", "Assistance may not be declined on the ground of bank secrecy."),
    Rule("REFUSE-REASONS", UNCC, "40", "~25", "Reasons must be given for any refusal."),
    Rule("POSTPONE-PROCEEDINGS", UNCC, "40", "~27", "Execution may be postponed where it would interfere with ongoing proceedings."),
    Rule("CONSULT-BEFORE-REFUSAL", UNCC, "40", "~28", "Before refusing or postponing, the requested State consults to see whether assistance can be given on conditions."),
    # --- deadlines from neighbouring instruments ----------------------------------------------
    Rule("DEADLINE-EMERGENCY-8H", EU_EEVIDENCE, "10", "4", "Emergency production within 8 hours."),
    Rule("DEADLINE-PRODUCTION-10D", EU_EEVIDENCE, "10", "2", "Production within 10 days."),
    Rule("DEADLINE-SUBSCRIBER-20D", BUDAPEST_P2, "8", "6", "Subscriber information returned within 20 days."),
    Rule("DEADLINE-DIRECT-ORDER-30D", BUDAPEST_P2, "7", "", "A direct order to a provider not met within 30 days may be enforced through Art. 8 or MLA."),
    Rule("DEADLINE-TRAFFIC-45D", BUDAPEST_P2, "8", "6", "Traffic data returned within 45 days; orders served within 45 days."),
    # --- federation: envelopes, receipts, node descriptors, key rotation ----------------------
    Rule("FED-MALFORMED", NODE, "", "", "The federation message is not a well-formed signed object of the expected kind with every required field."),
    Rule("FED-TOO-LARGE", NODE, "", "", "The federation message exceeds the size this node accepts.", setting="config: federation_max_envelope_bytes"),
    Rule("FED-SIGNATURE", NODE, "", "", "The message is not signed with Ed25519 by the key it names, or the signature does not verify."),
    Rule("FED-UNKNOWN-SENDER", NODE, "", "", "The sender is not a registered peer of this node."),
    Rule("FED-UNKNOWN-KEY", NODE, "", "", "The key named by the message is not a registered key of its sender."),
    Rule("FED-KEY-EXPIRED", NODE, "", "", "The signing key was not valid at the time the message was made (expired or not yet valid)."),
    Rule("FED-RECIPIENT", NODE, "", "", "The envelope is addressed to another node."),
    Rule("FED-STALE", NODE, "", "", "The envelope's creation time is outside the accepted clock skew of the receiver's clock (too old, or in the future).", setting="config: federation_max_skew_seconds"),
    Rule("FED-REPLAY", NODE, "", "", "An envelope with this id was already received with different contents; an id is applied once only."),
    Rule("FED-ROTATION", NODE, "", "", "A key rotation must be signed by the node's current key (valid now, not only at the time the rotation claims) and name a new key that does not clash with a registered one."),
    # --- offence catalogue (Arts. 2, 7-17) ---------------------------------------------------
    Rule("OFFENCE-CATALOGUE", UNCC, "7-17", "", "The offences the Convention establishes (Arts. 7-17) form the catalogue; other conduct is covered only as a serious crime (Art. 2)."),
    Rule("OFFENCE-7", UNCC, "7", "", "Illegal access to the whole or any part of an information and communications technology system."),
    Rule("OFFENCE-8", UNCC, "8", "", "Illegal interception of non-public transmissions of electronic data."),
    Rule("OFFENCE-9", UNCC, "9", "", "Interference with electronic data: damaging, deleting, deteriorating, altering or suppressing it."),
    Rule("OFFENCE-10", UNCC, "10", "", "Interference with an information and communications technology system."),
    Rule("OFFENCE-11", UNCC, "11", "", "Misuse of devices, programs, passwords or access codes made or adapted to commit the offences of Arts. 7-10."),
    Rule("OFFENCE-12", UNCC, "12", "", "Information and communications technology-related forgery."),
    Rule("OFFENCE-13", UNCC, "13", "", "Information and communications technology-related theft or fraud."),
    Rule("OFFENCE-14", UNCC, "14", "", "Offences related to online child sexual abuse or child sexual exploitation material."),
    Rule("OFFENCE-15", UNCC, "15", "", "Solicitation or grooming for the purpose of committing a sexual offence against a child."),
    Rule("OFFENCE-16", UNCC, "16", "", "Non-consensual dissemination of intimate images."),
    Rule("OFFENCE-17", UNCC, "17", "", "Laundering of proceeds of crime."),
    Rule("OFFENCE-SERIOUS", UNCC, "2", "", "A serious crime is conduct punishable by a maximum deprivation of liberty of at least four years or a more serious penalty."),
    # --- request types (Arts. 40-47) ----------------------------------------------------------
    Rule("REQ-MLA", UNCC, "40", "~1", "States afford one another the widest measure of mutual legal assistance, including the collection of electronic evidence."),
    Rule("REQ-SPONTANEOUS", UNCC, "40", "~4", "A State may pass information on a criminal matter to another without a prior request; the receiver keeps it confidential or within the conditions set."),
    Rule("REQ-24-7", UNCC, "41", "", "The 24/7 network gives immediate assistance, including electronic data to avert an emergency."),
    Rule("REQ-PRESERVATION", UNCC, "42", "", "Expedited preservation of stored electronic data pending a request for mutual legal assistance."),
    Rule("REQ-PRESERVED-DISCLOSURE", UNCC, "43", "", "Expedited disclosure of enough preserved traffic data to identify a service provider and the path of the communication."),
    Rule("REQ-STORED-DATA", UNCC, "44", "", "Mutual legal assistance in accessing stored electronic data."),
    Rule("REQ-REAL-TIME", UNCC, "45", "", "Mutual legal assistance in the real-time collection of traffic data."),
    Rule("REQ-INTERCEPTION", UNCC, "46", "", "Mutual legal assistance in the interception of content data."),
    Rule("REQ-LE-COOPERATION", UNCC, "47", "", "Law-enforcement cooperation between the competent authorities."),
    # --- required contents of an MLA request (Art. 40(~15)) and of a preservation request (Art. 42)
    Rule("CONTENT-AUTHORITY", UNCC, "40", "~15(a)", "A request names the authority making it."),
    Rule("CONTENT-PROCEEDING", UNCC, "40", "~15(b)", "A request states the subject and nature of the investigation, prosecution or proceeding and the authority conducting it."),
    Rule("CONTENT-FACTS", UNCC, "40", "~15(c)", "A request summarises the relevant facts."),
    Rule("CONTENT-ASSISTANCE", UNCC, "40", "~15(d)", "A request describes the assistance sought and any particular procedure the requesting State wishes followed."),
    Rule("CONTENT-PERSON", UNCC, "40", "~15(e)", "Where possible, a request gives the identity, location and nationality of the person, item or account concerned."),
    Rule("CONTENT-PURPOSE", UNCC, "40", "~15(f)", "A request states the purpose for which the evidence, information or action is sought."),
    Rule("PRESERVE-AUTHORITY", UNCC, "42", "~3(a)", "A preservation request names the authority seeking preservation."),
    Rule("PRESERVE-OFFENCE", UNCC, "42", "~3(b)", "A preservation request states the offence under investigation and a brief summary of the facts."),
    Rule("PRESERVE-DATA", UNCC, "42", "~3(c)", "A preservation request identifies the stored data to be preserved and its relationship to the offence."),
    Rule("PRESERVE-CUSTODIAN", UNCC, "42", "~3(d)", "A preservation request gives any available information identifying the custodian of the data or the location of the system."),
    Rule("PRESERVE-NECESSITY", UNCC, "42", "~3(e)", "A preservation request states why preservation is necessary."),
    Rule("PRESERVE-MLA-FOLLOWS", UNCC, "42", "~3(f)", "A preservation request states that a request for mutual legal assistance for the data will follow."),
    Rule("PRESERVE-CONFIDENTIAL", UNCC, "42", "~3(g)", "As appropriate, a preservation request asks that it be kept confidential and the user not be notified."),
    Rule("PRESERVATION-NO-DUAL-CRIMINALITY", UNCC, "42", "~5", "Dual criminality is not a condition of preservation, save a State's reservation for offences outside the Convention."),
    Rule("PRESERVATION-EXTENSION-30D", EU_EEVIDENCE, "11", "1", "Preservation for 60 days may be extended by a further 30 days."),
    Rule("SAFEGUARD-SCOPE-DURATION", UNCC, "24", "", "Powers are limited in scope and duration: real-time collection and interception state the period sought."),
    Rule("DEADLINE-REASONED", UNCC, "40", "~26", "The requested State takes into account a reasoned deadline: a deadline lies in the future and gives its reasons."),
    # --- gate, responses and lifecycle (this node's rules where the Convention leaves it open) -
    Rule("GATE-REVIEW-REFUSED", NODE, "", "", "A named reviewer refused the exchange."),
    Rule("GATE-DATA-PROTECTION", UNCC, "36", "", "Personal data are used only within the conditions the sender attached under its data-protection law."),
    Rule("REFUSE-DUAL-CRIMINALITY", UNCC, "40", "~9", "Assistance involving coercive measures may be declined in the absence of dual criminality."),
    Rule("RESPONSE-EVIDENCE", NODE, "", "", "An executed or partially executed response lists the evidence handed over."),
    Rule("LIFECYCLE-TRANSITION", NODE, "", "", "A request moves only along the allowed transitions of its lifecycle."),
    # --- federation service: inbox, outbox, peering -----------------------------------------
    Rule("FED-REPEAT", NODE, "", "", "An envelope already received with the same contents is answered with the original receipt and not applied again."),
    Rule("FED-UNKNOWN-TYPE", NODE, "", "", "This node does not handle items of the envelope's type."),
    Rule("FED-ITEM-INVALID", NODE, "", "", "The item does not meet this node's requirements for its type; the detail names what is wrong."),
    Rule("FED-UNDELIVERABLE", NODE, "", "", "The peer refused the message without a signed receipt (for instance its size), or has no federation endpoint."),
    Rule("FED-UNBOUND-RECEIPT", NODE, "", "", "A receipt settles an item only if it names the digest of the very envelope sent; one that names another message's digest, or a rejection naming none, may answer a message someone else sent under the same id, and settles nothing."),
    Rule("PEER-FINGERPRINT", NODE, "", "", "A peer is trusted only after a person confirmed its key fingerprint out of band."),
    # --- signals: TLP 2.0 marking, onward transfer, expiry, limits ------------------------------
    Rule("TLP-CLEAR", "FIRST TLP 2.0", "", "", "TLP:CLEAR: disclosure is not limited; any party not suspended may receive it."),
    Rule("TLP-GREEN", "FIRST TLP 2.0", "", "", "TLP:GREEN: limited disclosure within the community: the exchange's members in good standing, never the public."),
    Rule("TLP-AMBER", "FIRST TLP 2.0", "", "", "TLP:AMBER: limited disclosure to the recipient organisation and those it names on a need-to-know basis: this node, the organisations the originator named, and members this node names."),
    Rule("TLP-AMBER-STRICT", "FIRST TLP 2.0", "", "", "TLP:AMBER+STRICT: limited disclosure to the recipient organisation only: this node and the organisations the originator itself named, no one else."),
    Rule("TLP-RED", "FIRST TLP 2.0", "", "", "TLP:RED: for the eyes of the individual recipients only: the item never leaves this node."),
    Rule("ONWARD-CONSENT", UNCC, "36", "", "A signal received from another organisation is passed on to a third only with its originator's prior authorisation (onward transfer)."),
    Rule("SIGNAL-ORIGINATOR", NODE, "", "", "The organisation that reported a signal may see its own report and the feedback on it."),
    Rule("SIGNAL-EXPIRED", NODE, "", "", "A report past its expiry time is no longer shared or matched."),
    Rule("SIGNAL-NAMED", NODE, "", "", "This node names members to receive a report on a need-to-know basis only for TLP:AMBER: AMBER+STRICT and RED allow no one beyond the originator's own names, GREEN and CLEAR need no names, and a suspended member is never named."),
    Rule("SIGNAL-UNCLASSIFIED", NODE, "", "", "A signal without an offence code of the catalogue (UNCC Arts. 7-17 or serious crime) serves this node's own lookups only: it is not shared with anyone (lookups, exports, TAXII, federation) until it is classified."),
    Rule("SIGNAL-LIMITS", NODE, "", "", "A signal batch holds at most 10,000 values and each value fits its type's length limit; a batch is stored whole or not at all unless best effort is asked for."),
    Rule("PRIVATE-PREFIX", NODE, "", "", "A private lookup sends at most as many bits of each value's digest as keep k stored values under every prefix on average; the node answers every digest the gate lets the member see under it, padded, and ledgers how many prefixes were asked, never the prefixes.", "config: private_lookup_k"),
    # --- media hash lists (NCII, CSAM) -------------------------------------------------------
    Rule("MEDIA-HASH-VALUE", NODE, "", "", "A hash list holds only well-formed hashes of sufficient quality: PDQ of quality 50 or more, never a degenerate (all-zeros, all-ones) or empty-file hash."),
    Rule("MEDIA-CASE-REF", NODE, "", "", "A hash carries only an opaque case reference of its source; no personal data is stored with it."),
    Rule("MEDIA-WITHDRAWN", NODE, "", "", "A hash withdrawn or deleted by its source is dropped by every member that received it and is not listed again."),
    Rule("MEDIA-QUARANTINE", NODE, "", "", "A hash whose matches spike is quarantined for review by a named person instead of driving mass removals."),
    Rule("MEDIA-BATCH", NODE, "", "", "A batch holds at most 10,000 hashes."),
)

RULES: dict[str, Rule] = {rule.code: rule for rule in _RULES}


def rule(code: str) -> Rule:
    """The rule with this code; a KeyError names the unknown code."""
    try:
        return RULES[code]
    except KeyError:
        raise KeyError(f"unknown rule code {code!r}") from None
