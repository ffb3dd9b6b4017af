"""What people touch: the ``compact`` command line, HTML reports and the Streamlit app."""
