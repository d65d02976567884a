"""The page shown for unknown addresses."""

import dash
from dash import dcc, html

dash.register_page(__name__, nav=False)

layout = html.Div(className="empty", children=[
    html.H2("This page does not exist"),
    dcc.Link("Back to the live view", href="/"),
])
