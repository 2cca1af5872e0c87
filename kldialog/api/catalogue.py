"""The DCAT-AP.de catalogue (JSON-LD) of the API's data sets, for GovData-style harvesters."""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for

LICENCE_URI = "http://dcat-ap.de/def/licenses/dl-by-de/2.0"
LICENCE_NAME = "Datenlizenz Deutschland – Namensnennung – Version 2.0"
EU = "http://publications.europa.eu/resource/authority/"
DCATDE = "http://dcat-ap.de/def/"
CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "dcatde": "http://dcat-ap.de/def/dcatde/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
}

# (identifier, endpoint, title, description, EU frequency code)
DATASETS = (
    (
        "roadmap",
        "api.v1.projects",
        "Digitale Roadmap: Projekte",
        "Projekte der digitalen Roadmap mit Kategorie, Status, Statushistorie und Neuigkeiten.",
        "IRREG",
    ),
    (
        "categories",
        "api.v1.categories",
        "Digitale Roadmap: Kategorien",
        "Die Kategorien der digitalen Roadmap mit der Zahl ihrer veröffentlichten Projekte.",
        "IRREG",
    ),
    (
        "priority-rounds",
        "api.v1.rounds",
        "Prioritätenrunden: Ergebnisse",
        "Eingefrorene Ergebnisse abgeschlossener Prioritätenrunden mit anonymer Stimmzetteldatei;"
        " unter der Mindestgruppengröße wird nur die Zahl der Stimmzettel veröffentlicht.",
        "IRREG",
    ),
    (
        "surveys",
        "api.v1.surveys",
        "Umfragen: veröffentlichte Ergebnisse",
        "Freigegebene Ergebnisse abgeschlossener Umfragen; kleine Gruppen sind unterdrückt,"
        " Freitexte und einzelne Antworten sind nicht enthalten.",
        "IRREG",
    ),
    (
        "moderation-report",
        "api.v1.moderation_report",
        "Moderationsbericht",
        "Monatliche Zahlen der Moderation: veröffentlichte, gemeldete, ausgeblendete Beiträge,"
        " Meldegründe, Bearbeitungszeit und Einsprüche.",
        "MONTHLY",
    ),
    (
        "indicator-ratings",
        "api.v1.ratings",
        "Bewertungen der Roadmap-Projekte",
        "Mittelwerte mit 95-%-Intervall der Bewertungen nach den zwei Indikatoren des Stadtrats,"
        " erst ab der Mindestgruppengröße.",
        "CONT",
    ),
)


def publisher_name() -> str:
    """Return the publishing body: API_PUBLISHER, else the operator, else the city."""
    config = current_app.config
    return (
        config.get("API_PUBLISHER")
        or config.get("OPERATOR_NAME")
        or f"Stadt {config.get('CITY_NAME', '')}".strip()
    )


def _origin() -> dict[str, Any]:
    """Return DCAT-AP.de's contributor and political geocoding, for what is configured."""
    config = current_app.config
    origin: dict[str, Any] = {}
    if contributor := str(config.get("API_CONTRIBUTOR_ID") or "").strip():
        origin["dcatde:contributorID"] = {"@id": contributor}
    key = str(config.get("CITY_MUNICIPALITY_KEY") or "").strip()
    if len(key) == 8 and key.isascii() and key.isdigit():
        origin["dcatde:politicalGeocodingLevelURI"] = {
            "@id": f"{DCATDE}politicalGeocodingLevel/municipality"
        }
        origin["dcatde:politicalGeocodingURI"] = {
            "@id": f"{DCATDE}politicalGeocoding/municipalityKey/{key}"
        }
    return origin


def catalogue() -> dict[str, Any]:
    """Return the catalogue document: one dcat:Dataset per API collection."""
    publisher = {"@type": "foaf:Agent", "foaf:name": publisher_name()}
    home = url_for("pages.home", _external=True)
    site = current_app.config.get("SITE_NAME", "KL.dialog")
    contact = current_app.config.get("OPERATOR_EMAIL") or ""
    datasets = []
    for identifier, endpoint, title, description, frequency in DATASETS:
        address = url_for(endpoint, _external=True)
        dataset: dict[str, Any] = {
            "@id": f"{url_for('api.v1.dcat', _external=True)}#{identifier}",
            "@type": "dcat:Dataset",
            "dct:identifier": identifier,
            "dct:title": title,
            "dct:description": description,
            "dct:publisher": publisher,
            "dct:license": {"@id": LICENCE_URI},
            "dct:accrualPeriodicity": {"@id": f"{EU}frequency/{frequency}"},
            "dct:language": {"@id": f"{EU}language/DEU"},
            "dcat:theme": [{"@id": f"{EU}data-theme/GOVE"}],
            "dcat:landingPage": {"@id": url_for("api.documentation", _external=True)},
            "dcat:distribution": [
                {
                    "@id": f"{address}#json",
                    "@type": "dcat:Distribution",
                    "dct:title": f"{title} (JSON)",
                    "dcat:accessURL": {"@id": address},
                    "dcat:downloadURL": {"@id": address},
                    "dcat:mediaType": "application/json",
                    "dct:format": {"@id": f"{EU}file-type/JSON"},
                    "dct:license": {"@id": LICENCE_URI},
                    "dcatde:licenseAttributionByText": f"{publisher_name()}, {site}",
                    "dct:conformsTo": {"@id": url_for("api.v1.openapi", _external=True)},
                }
            ],
        }
        dataset.update(_origin())
        if contact:
            dataset["dcat:contactPoint"] = {
                "@type": "vcard:Organization",
                "vcard:fn": publisher_name(),
                "vcard:hasEmail": {"@id": f"mailto:{contact}"},
            }
        datasets.append(dataset)
    return {
        "@context": CONTEXT,
        "@id": url_for("api.v1.dcat", _external=True),
        "@type": "dcat:Catalog",
        "dct:title": f"{site}: offene Daten",
        "dct:description": (
            f"Offene Daten der Bürgerbeteiligung zur digitalen Roadmap "
            f"{current_app.config.get('CITY_NAME', '')}: nur veröffentlichte Angaben und "
            "Aggregate, keine personenbezogenen Daten."
        ),
        "dct:publisher": publisher,
        "dct:language": {"@id": f"{EU}language/DEU"},
        "dct:license": {"@id": LICENCE_URI},
        "foaf:homepage": {"@id": home},
        "dcat:dataset": datasets,
    }
